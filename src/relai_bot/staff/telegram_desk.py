"""/diffuser on Telegram: a staff member broadcasts from their phone, in a short guided exchange.

`StaffDesk` is the dispatcher the Telegram channel gets: it wraps the residents' `Dispatcher` and takes
from it only what is staff business, so everything else reaches the residents' engine unchanged:
- `/lier CODE` links the chat to a staff account (services/staff_telegram.redeem_link_code);
- in a chat linked to an account that may still sign in (services/staff_telegram.account_for_chat, the one
  rule), `/diffuser` starts the exchange (or starts it again), and while it is open (a `staff_chat` row,
  touched in the last EXCHANGE_IDLE) the staff member's texts and buttons are the desk's; `/annuler` ends it.
  A staff member is a resident like any other outside the exchange.
Steps: `districts` (a button per district the account reaches, services.accounts.visible_districts, and
"all" when there are several), `text` (the text with {{ prenom }} and {{ quartier }}, checked by the same
compose.preview; a refusal is explained and the step asked again), `confirm` (the preview, then Envoyer /
Modifier le texte / Annuler; Envoyer is compose.submit with the account as author, so the scope and the
approval rule are the back-office's and the CLI's).

The database is the only truth: the step, the draft and the ids of the buttons last offered are the
`staff_chat` row, so a restart or another instance continues the exchange. Button ids are
"staff:<nonce>:<action>" (resident ids are "<turn>.<n>"): a new nonce with each question, so an old or
forged press is not among the row's options and gets a polite answer with the current question. Each
turn is one transaction; a provider message is handled once (services.dedup). Logs name the chat by a
short hash and never carry a text.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from relai_bot.conversation.dispatcher import Dispatcher, Front
from relai_bot.services import accounts, dedup, staff_telegram
from relai_bot.services.accounts import Account
from relai_bot.services.broadcast_text import BroadcastTextError
from relai_bot.services.broadcasts import BroadcastDraft
from relai_bot.services.errors import NotFound, OutOfScope
from relai_bot.services.residents import address_tag
from relai_bot.staff import compose
from relai_bot.staff.preview_text import staff_preview, start_words
from relai_bot.staff.texts import StaffTexts
from relai_bot.store.models import District, StaffChat
from relai_bot.turns import Inbound, Option, Reply, Turn

log = logging.getLogger(__name__)

CHANNEL = "telegram"
PREFIX = "staff:"
ALL = "*"
# An exchange left this long is over: the staff member's messages go to the residents' engine again
EXCHANGE_IDLE = timedelta(hours=2)
DISTRICTS, TEXT, CONFIRM = "districts", "text", "confirm"


@dataclass(frozen=True)
class _Offer:
    action: str
    label: str


def command_of(inbound: Inbound) -> tuple[str, str]:
    """("/diffuser", "") for "/diffuser", ("/lier", "ABCD") for "/lier@bot ABCD"; ("", "") for no command."""
    text = (inbound.text or "").strip() if inbound.kind == "text" else ""
    if not text.startswith("/"):
        return "", ""
    word, _, rest = text.partition(" ")
    return word.split("@")[0].lower(), rest.strip()


class StaffDesk(Dispatcher):
    """The residents' dispatcher, with the staff exchange in front of it (Telegram only)."""

    def __init__(self, residents: Dispatcher, texts: StaffTexts | None = None) -> None:
        super().__init__(residents.db, residents.engine, strict=residents.strict)
        self.residents = residents
        self.settings = residents.engine.settings
        self.clock = residents.engine.clock
        self.renderer = residents.engine.renderer
        self.texts = texts or StaffTexts()

    def journal_replies(self, channel: str) -> None:
        """The turns run in the residents' dispatcher: that is where their replies are written."""
        self.residents.journal_replies(channel)

    async def handle(self, inbound: Inbound, front: Front | None = None) -> Turn:
        if inbound.channel != CHANNEL:
            return await self.residents.handle(inbound, front)
        return await self.residents.handle(inbound, self.front)

    def handle_sync(self, inbound: Inbound, front: Front | None = None) -> Turn:
        return self.residents.handle_sync(inbound, self.front if inbound.channel == CHANNEL else front)

    def front(self, session: Session, inbound: Inbound) -> Turn | None:
        """The desk's answer, in the turn's transaction, or None when the message is the residents' engine's
        (the lookup of a staff chat costs one query of that transaction, not a transaction of its own)."""
        started = time.perf_counter()
        turn = self._turn(session, inbound, self.clock.now())
        if turn is not None:
            ms = (time.perf_counter() - started) * 1000
            tag = address_tag(inbound.channel, inbound.address)
            context = {
                "channel": inbound.channel,
                "who": tag,
                "kind": inbound.kind,
                "step": turn.step,
                "ms": round(ms, 1),
            }
            log.info("staff turn who=%s kind=%s step=%s ms=%.1f", tag, inbound.kind, turn.step, ms, extra=context)
        return turn

    # -- one turn ---------------------------------------------------------------------------------
    def _turn(self, session: Session, inbound: Inbound, now: datetime) -> Turn | None:
        command, argument = command_of(inbound)
        if command == "/lier":
            if not self._first_time(session, inbound, now):
                return Turn(duplicate=True)
            return self._link(session, inbound.address, argument, now)
        account = staff_telegram.account_for_chat(session, inbound.address)
        if account is None:
            return None
        row = session.get(StaffChat, account.id)
        if row is not None and now - row.updated_at > EXCHANGE_IDLE:
            session.delete(row)
            row = None
        staff_button = inbound.kind == "choice" and (inbound.choice or "").startswith(PREFIX)
        if command != "/diffuser" and row is None and not staff_button:
            return None
        if not self._first_time(session, inbound, now):
            return Turn(duplicate=True)
        if command == "/diffuser":
            return self._start(session, account, now)
        if row is None:
            return self._say(self.texts.render("ended"))
        if command == "/annuler":
            return self._cancel(session, row)
        if inbound.kind == "choice":
            if inbound.choice not in row.options:
                return self._ask(session, row, account, now, notice=self.texts.render("stale"))
            return self._choose(session, row, account, (inbound.choice or "").split(":", 2)[2], now)
        if inbound.kind == "text" and row.step == TEXT and not command:
            return self._take_text(session, row, account, inbound.text or "", now)
        return self._ask(session, row, account, now, notice=self.texts.render("use_buttons"))

    def _first_time(self, session: Session, inbound: Inbound, now: datetime) -> bool:
        return not inbound.message_id or dedup.first_time(session, inbound.channel, inbound.message_id, now)

    def _link(self, session: Session, chat_id: str, code: str, now: datetime) -> Turn:
        if not code:
            return self._say(self.texts.render("link_help"))
        if staff_telegram.tries_left(session, chat_id, now) == 0:
            return self._say(self.texts.render("link_locked"))
        account = staff_telegram.redeem_link_code(session, chat_id, code, now)
        if account is None:
            left = staff_telegram.tries_left(session, chat_id, now)
            if left == 0:
                return self._say(self.texts.render("link_locked"))
            minutes = int(staff_telegram.CODE_LIFETIME.total_seconds() // 60)
            return self._say(self.texts.render("link_refused", tries_left=left, minutes=minutes))
        return self._say(self.texts.render("link_done", name=account.name))

    def _start(self, session: Session, account: Account, now: datetime) -> Turn:
        if not accounts.visible_districts(session, account):
            old = session.get(StaffChat, account.id)
            if old is not None:
                session.delete(old)
            return self._say(self.texts.render("no_districts"))
        row = session.get(StaffChat, account.id) or StaffChat(staff_user_id=account.id, step=DISTRICTS, updated_at=now)
        row.step, row.draft = DISTRICTS, {}
        return self._ask(session, row, account, now)

    def _cancel(self, session: Session, row: StaffChat) -> Turn:
        session.delete(row)
        return self._say(self.texts.render("cancelled"))

    def _choose(self, session: Session, row: StaffChat, account: Account, action: str, now: datetime) -> Turn:
        if action == "cancel":
            return self._cancel(session, row)
        if action == "edit":
            row.step = TEXT
            return self._ask(session, row, account, now)
        if action == "send":
            return self._send(session, row, account, now)
        if action.startswith("d:"):
            code = action[2:]
            reachable = [d.code for d in accounts.visible_districts(session, account)]
            chosen = reachable if code == ALL else [c for c in reachable if c == code]
            if not chosen:  # no longer one of theirs: ask again among those they reach now
                return self._ask(session, row, account, now, notice=self.texts.render("stale"))
            row.step, row.draft = TEXT, {"districts": chosen}
            return self._ask(session, row, account, now)
        return self._ask(session, row, account, now, notice=self.texts.render("stale"))

    def _draft(self, row: StaffChat, text: str | None = None) -> BroadcastDraft:
        return BroadcastDraft(districts=list(row.draft.get("districts", [])), text=text or row.draft.get("text", ""))

    def _take_text(self, session: Session, row: StaffChat, account: Account, text: str, now: datetime) -> Turn:
        try:
            self._preview(session, self._draft(row, text), account, now)
        except (BroadcastTextError, OutOfScope) as error:
            notice = self.texts.render("text_refused", reason=str(error))
            return self._ask(session, row, account, now, notice=notice)
        except NotFound:
            return self._restart(session, row, account, now)
        row.step, row.draft = CONFIRM, {**row.draft, "text": text.strip()}
        return self._ask(session, row, account, now)

    def _send(self, session: Session, row: StaffChat, account: Account, now: datetime) -> Turn:
        try:
            submitted = compose.submit(
                session,
                self._draft(row),
                renderer=self.renderer,
                settings=self.settings,
                now=now,
                created_by=account.login,
                author=account,
            )
        except (BroadcastTextError, OutOfScope) as error:
            row.step = TEXT
            notice = self.texts.render("text_refused", reason=str(error))
            return self._ask(session, row, account, now, notice=notice)
        except NotFound:
            return self._restart(session, row, account, now)
        session.delete(row)
        shown = submitted.preview
        values = {"broadcast_id": submitted.broadcast.id, "recipients": shown.recipients}
        if shown.approval_needed:
            return self._say(self.texts.render("held", **values))
        return self._say(self.texts.render("sent", **values, **start_words(shown.starts_at, now, self.settings.tz)))

    def _restart(self, session: Session, row: StaffChat, account: Account, now: datetime) -> Turn:
        row.step, row.draft = DISTRICTS, {}
        return self._ask(session, row, account, now, notice=self.texts.render("not_found"))

    def _preview(
        self, session: Session, draft: BroadcastDraft, account: Account, now: datetime
    ) -> compose.BroadcastPreview:
        return compose.preview(session, draft, renderer=self.renderer, settings=self.settings, now=now, account=account)

    # -- asking -----------------------------------------------------------------------------------
    def _ask(self, session: Session, row: StaffChat, account: Account, now: datetime, *, notice: str = "") -> Turn:
        """The current step's question and buttons (new ids, kept on the row), after `notice` if any."""
        if row.step == DISTRICTS:
            districts = accounts.visible_districts(session, account)
            offers = [_Offer(f"d:{d.code}", d.name) for d in districts]
            if len(districts) > 1:
                offers.append(_Offer(f"d:{ALL}", self.texts.label("all" if account.is_admin else "all_mine")))
            question = self.texts.render("choose_districts")
        elif row.step == TEXT:
            offers = []
            question = self.texts.render("ask_text", districts=self._names(session, row))
        else:
            try:
                shown = self._preview(session, self._draft(row), account, now)
            except (BroadcastTextError, OutOfScope, NotFound) as error:
                row.step = TEXT  # the text no longer passes (scope changed, a district went): write it again
                reason = str(error) if not isinstance(error, NotFound) else self.texts.render("not_found")
                return self._ask(session, row, account, now, notice=self.texts.render("text_refused", reason=reason))
            question = staff_preview(
                shown, self.texts, districts=self._names(session, row), now=now, settings=self.settings
            )
            offers = [_Offer("send", self.texts.label("send")), _Offer("edit", self.texts.label("edit"))]
        offers.append(_Offer("cancel", self.texts.label("cancel")))
        nonce = secrets.token_hex(3)
        options = [Option(f"{PREFIX}{nonce}:{o.action}", o.label, n) for n, o in enumerate(offers, 1)]
        row.options = [o.id for o in options]
        row.updated_at = now
        session.add(row)
        text = f"{notice}\n\n{question}" if notice else question
        return Turn(replies=[Reply(text=text, options=options)], flow="staff", step=row.step)

    def _names(self, session: Session, row: StaffChat) -> list[str]:
        codes: list[Any] = list(row.draft.get("districts", []))
        found = session.exec(select(District).where(col(District.code).in_(codes))).all()
        by_code = {d.code: d.name for d in found}
        return [by_code.get(code, code) for code in codes]

    @staticmethod
    def _say(text: str) -> Turn:
        return Turn(replies=[Reply(text=text)], flow="staff")
