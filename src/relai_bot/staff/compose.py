"""Composing a broadcast: the preview staff see before sending, and the submission that follows it.

`preview` answers, for a draft (services.broadcasts.BroadcastDraft), everything the page and
`relai-bot broadcast --dry-run` show: the audience by channel and district and who is left out and why
(services.broadcasts.audience, the very function that enqueues), the message as each channel will send it
(the template broadcast/message, Telegram's escaping and splitting, the real SmsComposer: transliteration,
opt-out mention, splitting), the SMS encoding, characters and segments, the estimated cost, when it will
really start, and whether it needs approval. `submit` records the broadcast, held for approval when the
preview says so.

Rules chosen here:
- A text with placeholders differs per recipient: the message shown is a sample recipient's (the first
  of the audience on that channel who reads that version, or a resident with no known first name in the
  first district when there is none). The segment count shown is the largest over the SMS audience, and
  the cost is the sum of each SMS recipient's own segments (in the version and language they get), so the
  estimate is exact, not a guess from the sample.
- Versions: the French message is shown as a resident who chose French reads it; each version in another
  language (the draft's `texts`) is shown as a resident who chose that language reads it, on both
  channels. The counts say who reads which version, and how many chose a language the draft has no
  version in (they get the French text).
- Scope (`check_scope`): a staff member previews and sends to their own districts only, an admin to any,
  an adviser to none (services.accounts.Account.may_reach_district, the one rule). Without an account (the
  CLI run by the operator on the server) nothing is checked.
- Approval (`approval_reasons`): more recipients than RELAI_BROADCAST_APPROVAL_ABOVE, or an SMS cost above
  RELAI_BROADCAST_APPROVAL_COST. Either holds the broadcast until an admin other than its author approves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session

from relai_bot.channels.sms.render import GSM7, UCS2, SmsComposer
from relai_bot.config import Settings
from relai_bot.conversation.render import Renderer
from relai_bot.services import broadcast_content, broadcast_text, broadcasts, content_languages
from relai_bot.services.accounts import Account
from relai_bot.services.broadcast_text import BroadcastTextError, Personal
from relai_bot.services.errors import OutOfScope
from relai_bot.store.models import Broadcast, id_of
from relai_bot.turns import Reply

CENT = Decimal("0.01")
# A chosen time this far in the past still counts as "now" (the time it took to type the command)
PAST_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class ChannelPreview:
    """One channel's message for the sample recipient, exactly as it goes to the provider."""

    channel: str
    # Telegram: the HTML texts of sendMessage (escaped, split under 4096); SMS: each SMS's Body
    messages: list[str]
    characters: int
    # SMS only
    encoding: str | None = None
    segments: int = 0


@dataclass(frozen=True)
class SmsEstimate:
    recipients: int
    # The largest count of segments one SMS recipient gets, and the sum over the SMS audience
    segments_max: int
    segments_total: int
    cost: Decimal
    currency: str


@dataclass(frozen=True)
class VersionPreview:
    """A version of the text in another language than French, as each channel sends it."""

    language: str
    telegram: ChannelPreview
    sms: ChannelPreview


@dataclass(frozen=True)
class BroadcastPreview:
    draft: broadcasts.BroadcastDraft
    recipients: int
    matched: int
    by_channel: dict[str, int]
    by_district: dict[str, int]
    excluded: dict[str, int]
    # The French message
    telegram: ChannelPreview
    sms: ChannelPreview
    sms_estimate: SmsEstimate
    starts_at: datetime
    # Why it must wait for an admin's approval (empty: it goes as soon as it is submitted)
    approval: list[str]
    # Who reads which version (services.broadcasts.Versions), and the versions besides French, by language
    versions: broadcasts.Versions
    translations: dict[str, VersionPreview]

    @property
    def approval_needed(self) -> bool:
        return bool(self.approval)


@dataclass(frozen=True)
class Submitted:
    broadcast: Broadcast
    preview: BroadcastPreview


def check_filters(renderer: Renderer, draft: broadcasts.BroadcastDraft) -> None:
    """Filter values are the answers residents could give (the labels of the onboarding questions)."""
    for prefix, values in (("age", draft.age_brackets), ("situation", draft.situations), ("goal", draft.goals)):
        for value in values:
            if not renderer.label_exists(f"{prefix}.{value}"):
                labels = renderer.labels[renderer.default_language]
                known = ", ".join(sorted(k.split(".", 1)[1] for k in labels if k.startswith(prefix + ".")))
                raise BroadcastTextError(
                    f"Valeur inconnue pour {prefix} : {value!r}. Valeurs possibles : {known}.", field=prefix
                )


def check_scope(session: Session, account: Account | None, districts: Sequence[str]) -> None:
    """Refuse (OutOfScope, naming the first district) a district this account does not work for."""
    if account is None:
        return
    for district in broadcasts.resolve_districts(session, list(districts)):
        if not account.may_reach_district(id_of(district)):
            raise OutOfScope(f"Le quartier {district.name} n'est pas un de vos quartiers.")


def approval_reasons(recipients: int, sms_cost: Decimal, settings: Settings) -> list[str]:
    """Why a broadcast of this size and SMS cost waits for approval (the one rule; empty: it does not)."""
    reasons = []
    if recipients > settings.broadcast_approval_above:
        reasons.append(f"{recipients} recipients > RELAI_BROADCAST_APPROVAL_ABOVE={settings.broadcast_approval_above}")
    if sms_cost > settings.broadcast_approval_cost:
        limit = settings.broadcast_approval_cost
        reasons.append(f"SMS cost {sms_cost} {settings.sms_currency} > RELAI_BROADCAST_APPROVAL_COST={limit}")
    return reasons


class _Composer:
    """Renders one broadcast for one recipient on one channel, as the delivery path does."""

    def __init__(self, session: Session, broadcast: Broadcast, renderer: Renderer, settings: Settings) -> None:
        self.content = broadcast_content.content_of(session, broadcast)
        self.broadcast = broadcast
        self.renderer = renderer
        self.sms = SmsComposer(renderer, settings)
        self.one_way = settings.twilio_one_way_from is not None

    def personal(self) -> bool:
        """Whether some version has placeholders (then messages differ per recipient)."""
        return any(broadcast_text.placeholders_in(t) for t in (self.broadcast.text, *self.broadcast.texts.values()))

    def message(self, channel: str, language: str, personal: Personal) -> str:
        body = broadcast_text.personalise(broadcast_content.text_for(self.broadcast, language), personal)
        context = self.content.context(body, language)
        return self.renderer.render(
            broadcast_content.MESSAGE_TEMPLATE, language=language, channel=channel, context=context
        )

    def telegram(self, language: str, personal: Personal) -> ChannelPreview:
        # python-telegram-bot is imported by the first preview, not with the back-office (nor without Telegram)
        from relai_bot.channels.telegram.render import render_reply

        reply = Reply(text=self.message("telegram", language, personal), kind="broadcast", language=language)
        texts = [m.text for m in render_reply(reply, fallback_text="") if m.text]
        return ChannelPreview("telegram", texts, sum(len(t) for t in texts))

    def sms_parts(self, language: str, personal: Personal) -> ChannelPreview:
        reply = Reply(text=self.message("sms", language, personal), kind="broadcast", language=language)
        batches = self.sms.batches([reply], language=language, one_way=self.one_way, proactive=True)
        parts = [part for batch in batches for part in batch.parts]
        encoding = UCS2 if any(batch.encoding == UCS2 for batch in batches) else GSM7
        segments = sum(batch.segments for batch in batches)
        return ChannelPreview("sms", parts, sum(len(p) for p in parts), encoding, segments)


def preview(
    session: Session,
    draft: broadcasts.BroadcastDraft,
    *,
    renderer: Renderer,
    settings: Settings,
    now: datetime,
    account: Account | None = None,
) -> BroadcastPreview:
    """What this draft would do if submitted now (nothing is written). Raises BroadcastTextError (a French
    message for staff: text, placeholder, filter, link, time), NotFound (district, scheme, venue) or
    OutOfScope (a district `account` does not work for)."""
    check_scope(session, account, draft.districts)
    check_filters(renderer, draft)
    if draft.scheduled_at is not None and draft.scheduled_at < now - PAST_GRACE:
        raise BroadcastTextError("L'heure d'envoi choisie est déjà passée.", field="scheduled_at")
    broadcast = broadcasts.draft_broadcast(session, draft, created_by="preview", now=now)
    found = broadcasts.audience(
        session,
        districts=draft.districts,
        age_brackets=draft.age_brackets,
        situations=draft.situations,
        goals=draft.goals,
        now=now,
        per_week=settings.broadcasts_per_week,
    )
    composer = _Composer(session, broadcast, renderer, settings)
    nobody = Personal(None, found.districts[0].name)

    def sample(channel: str, version: str) -> Personal:
        """The first recipient on `channel` who reads `version`, or a resident with no known first name."""
        for r in found.recipients:
            if r.channel == channel and broadcast_content.version_for(broadcast.texts, r.language) == version:
                return r.personal
        return nobody

    french = content_languages.FRENCH
    telegram_preview = composer.telegram(french, sample("telegram", french))
    sms_preview = composer.sms_parts(french, sample("sms", french))
    translations = {
        language: VersionPreview(
            language,
            composer.telegram(language, sample("telegram", language)),
            composer.sms_parts(language, sample("sms", language)),
        )
        for language in broadcast.texts
    }
    estimate = _sms_estimate(composer, found.recipients, settings)
    return BroadcastPreview(
        draft=draft,
        recipients=len(found.recipients),
        matched=found.matched,
        by_channel=found.by_channel,
        by_district=found.by_district,
        excluded=found.excluded,
        telegram=telegram_preview,
        sms=sms_preview,
        sms_estimate=estimate,
        starts_at=broadcasts.starts_at(draft.scheduled_at, now, settings.tz, settings.sending_window),
        approval=approval_reasons(len(found.recipients), estimate.cost, settings),
        versions=found.versions(broadcast.texts),
        translations=translations,
    )


def _sms_estimate(composer: _Composer, recipients: list[broadcasts.Recipient], settings: Settings) -> SmsEstimate:
    """Each SMS recipient's own segments (one rendering per distinct language and placeholders' values)."""
    personal = composer.personal()
    groups = Counter(
        (r.language, r.personal if personal else Personal(None, "")) for r in recipients if r.channel == "sms"
    )
    segments = {key: composer.sms_parts(*key).segments for key in groups}
    total = sum(segments[key] * n for key, n in groups.items())
    cost = (Decimal(total) * settings.sms_price_per_segment).quantize(CENT)
    return SmsEstimate(sum(groups.values()), max(segments.values(), default=0), total, cost, settings.sms_currency)


def submit(
    session: Session,
    draft: broadcasts.BroadcastDraft,
    *,
    renderer: Renderer,
    settings: Settings,
    now: datetime,
    created_by: str,
    author: Account | None = None,
) -> Submitted:
    """Preview, then record the broadcast: enqueued now, or held for approval when the preview says so.
    With an `author`, their scope is checked (check_scope) and the broadcast is theirs."""
    shown = preview(session, draft, renderer=renderer, settings=settings, now=now, account=author)
    broadcast = broadcasts.create_broadcast(
        session,
        draft,
        created_by=created_by,
        author_id=author.id if author is not None else None,
        now=now,
        per_week=settings.broadcasts_per_week,
        hold_for_approval=shown.approval_needed,
    )
    return Submitted(broadcast, shown)


def local_time(text: str, tz: ZoneInfo, *, field: str = "scheduled_at") -> datetime:
    """A date and time staff typed in the commune's time zone ("2026-12-05 09:30"), as aware UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BroadcastTextError(
            f"Date et heure illisibles : {text!r} (exemple : 2026-12-05 09:30).", field=field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)
