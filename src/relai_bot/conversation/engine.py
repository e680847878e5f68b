"""The conversation engine: one inbound message in, replies and effects out, all within one transaction.

It never sends anything and knows no provider: channels turn their updates into `Inbound` and render
the `Reply` objects it returns. The dispatcher calls `handle` inside a database transaction.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from relai_bot.clock import Clock
from relai_bot.config import Settings
from relai_bot.conversation import actions as _actions  # noqa: F401  (registers actions and parsers)
from relai_bot.conversation.context import ACTIONS, PARSERS, Context, ParseError
from relai_bot.conversation.flows import ActionCall, Checks, FlowSet, StepSpec, Target
from relai_bot.conversation.render import Renderer
from relai_bot.messages import Inbound, Option, Reply, Turn
from relai_bot.services import errors as domain_errors
from relai_bot.services import residents
from relai_bot.services.text import fold
from relai_bot.store.models import Conversation, MessageLog, ProcessedMessage, Resident

log = logging.getLogger(__name__)

MAX_HOPS = 30
MAX_STACK = 20
MAX_INPUT_CHARS = 1000
HOME = Target("menu", "")
_WHOLE_EXPRESSION = re.compile(r"^\{\{\s*(.+?)\s*\}\}$")


def domain_error_names() -> frozenset[str]:
    return frozenset(
        name
        for name, value in vars(domain_errors).items()
        if isinstance(value, type) and issubclass(value, domain_errors.DomainError)
    )


class Engine:
    def __init__(self, flows: FlowSet, renderer: Renderer, settings: Settings, clock: Clock) -> None:
        self.flows = flows
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        flows.validate(self.checks(renderer))

    @staticmethod
    def checks(renderer: Renderer) -> Checks:
        return Checks(
            template_exists=renderer.template_exists,
            label_exists=renderer.label_exists,
            actions=frozenset(ACTIONS),
            parsers=frozenset(PARSERS),
            errors=domain_error_names(),
        )

    # -- one turn ---------------------------------------------------------------------------------
    def handle(self, session: Session, inbound: Inbound) -> Turn:
        now = self.clock.now()
        if inbound.message_id and not self._first_delivery(session, inbound, now):
            return Turn(duplicate=True)
        conversation, is_new = self._conversation(session, inbound, now)
        resident = self._resident(session, conversation, inbound)
        ctx = Context(session, now, self.settings, self.renderer, inbound, conversation, resident)
        replies: list[Reply] = []
        text = (inbound.text or "").strip()[:MAX_INPUT_CHARS]
        if resident is not None:
            residents.touch(session, resident, now)
            residents.mark_reachable(session, inbound.channel, inbound.address)
            self._log(session, resident, inbound.channel, "in", text or f"[{inbound.kind}]", now, inbound.message_id)
        self._turn(ctx, replies, is_new, text)
        if ctx.attachments and replies:
            replies[-1].attachment = ctx.attachments[-1]
        if ctx.forget:
            session.expunge(conversation)
            session.execute(
                delete(Conversation).where(
                    Conversation.channel == inbound.channel,  # type: ignore[arg-type]
                    Conversation.address == inbound.address,  # type: ignore[arg-type]
                )
            )
        else:
            conversation.last_inbound_at = now
            conversation.updated_at = now
            flag_modified(conversation, "data")  # changed in place by actions and choices
            session.add(conversation)
            if ctx.resident is not None:
                logged = [
                    (reply, self._log(session, ctx.resident, inbound.channel, "out", reply.text, now, None))
                    for reply in replies
                ]
                session.flush()
                for reply, row in logged:
                    reply.log_id = row.id
        session.flush()
        return Turn(
            replies=replies,
            effects=ctx.effects,
            resident_id=ctx.resident.id if ctx.resident and not ctx.forget else None,
            flow=None if ctx.forget else conversation.flow,
            step=None if ctx.forget else conversation.step,
        )

    def _first_delivery(self, session: Session, inbound: Inbound, now: Any) -> bool:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(ProcessedMessage)
            .values(channel=inbound.channel, external_id=str(inbound.message_id)[:80], received_at=now)
            .on_conflict_do_nothing()
            .returning(ProcessedMessage.external_id)  # rowcount is -1 here on PostgreSQL (psycopg 3)
        )
        return session.execute(statement).first() is not None

    def _conversation(self, session: Session, inbound: Inbound, now: Any) -> tuple[Conversation, bool]:
        """The address's conversation row, locked for this turn (FOR UPDATE on PostgreSQL)."""
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        created = session.execute(
            insert(Conversation)
            .values(
                channel=inbound.channel,
                address=inbound.address,
                flow="",
                step="",
                data={},
                stack=[],
                options=[],
                turn=0,
                updated_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Conversation.id)
        ).first()
        conversation = session.exec(
            select(Conversation)
            .where(Conversation.channel == inbound.channel, Conversation.address == inbound.address)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        stale = conversation.flow not in self.flows.flows or (
            conversation.step not in self.flows.flows[conversation.flow].steps
        )
        return conversation, bool(created) or stale

    def _resident(self, session: Session, conversation: Conversation, inbound: Inbound) -> Resident | None:
        if conversation.resident_id is not None:
            resident = session.get(Resident, conversation.resident_id)
            if resident is not None:
                return resident
        resident = residents.find_by_address(session, inbound.channel, inbound.address)
        conversation.resident_id = resident.id if resident else None
        return resident

    def _log(
        self, session: Session, resident: Resident, channel: str, direction: str, body: str, now: Any, mid: str | None
    ) -> MessageLog:
        row = MessageLog(
            resident_id=resident.id,  # type: ignore[arg-type]
            channel=channel,
            direction=direction,
            body=body,
            created_at=now,
            provider_message_id=f"in:{mid}" if mid else None,
        )
        session.add(row)
        return row

    def _turn(self, ctx: Context, replies: list[Reply], is_new: bool, text: str) -> None:
        conversation, resident, inbound = ctx.conversation, ctx.resident, ctx.inbound
        matched = self._keywords(text) if inbound.kind == "text" else set()
        # "start" only means something to a resident who said stop; "oui" is an answer otherwise
        keyword = next((k for k in ("stop", "menu", "cancel", "back", "help") if k in matched), None)
        if inbound.kind == "start":
            ctx.data["start_payload"] = str(inbound.payload.get("payload") or "")[:64]
        if resident is not None and resident.stopped_at is not None:
            pressed = self._option_by_id(conversation, inbound.choice or "") if inbound.kind == "choice" else None
            if "start" in matched or (pressed is not None and pressed["key"] == "start"):
                residents.resume(ctx.session, resident)
                self._say(ctx, replies, "common/resumed")
                self._go(ctx, replies, self._home(ctx))
            else:
                # A channel may choose not to send this (SMS: STOP means silence, one confirmation only)
                ctx.effect("stopped_reminder", resident_id=resident.id)
                self._say(ctx, replies, "common/stopped_reminder")
            return
        if keyword == "stop":
            if resident is not None:
                residents.stop(ctx.session, resident, ctx.now)
                ctx.effect("resident_stopped", resident_id=resident.id)
                self._say(ctx, replies, "common/stopped")
                self._go(ctx, replies, self._home(ctx), quiet=True)
            else:
                ctx.forget = True
                self._say(ctx, replies, "common/stopped_anonymous")
            return
        if is_new or inbound.kind == "start":
            conversation.stack = []
            self._go(ctx, replies, self._home(ctx))
            return
        paused = conversation.last_inbound_at is not None and (
            ctx.now - conversation.last_inbound_at > self.settings.resume_after
        )
        if paused and conversation.flow not in ("menu", "onboarding"):
            title = ctx.label(self.flows.flows[conversation.flow].title)
            self._say(ctx, replies, "common/welcome_back", where=title)
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword == "menu":
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword in ("cancel", "back") and self._option_by_text(conversation.options, text) is not None:
            keyword = None  # the word is also an answer here ("annuler" a rendez-vous)
        if keyword == "cancel":
            if conversation.flow != "menu":
                self._say(ctx, replies, "common/cancelled")
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword == "back":
            if conversation.stack:
                flow, step = conversation.stack.pop()
                conversation.stack = list(conversation.stack)
                self._go(ctx, replies, Target(flow, step), push=False)
            else:
                self._go(ctx, replies, self._home(ctx))
            return
        step = self.flows.step(Target(conversation.flow, conversation.step))
        if keyword == "help":
            self._say(ctx, replies, step.help or "common/help")
            self._reprompt(ctx, replies)
            return
        self._answer(ctx, replies, step, text)

    def _answer(self, ctx: Context, replies: list[Reply], step: StepSpec, text: str) -> None:
        inbound = ctx.inbound
        option: dict[str, Any] | None = None
        if inbound.kind == "choice":
            option = self._option_by_id(ctx.conversation, inbound.choice or "")
            if option is None:
                self._say(ctx, replies, "common/stale_button")
                self._reprompt(ctx, replies)
                return
        elif inbound.kind != "text":
            parse = step.input.parse if step.input else None
            if inbound.kind == "contact" and parse == "phone":
                self._take_input(ctx, replies, step, str(inbound.payload.get("phone") or ""))
                return
            self._say(ctx, replies, f"common/unsupported_{inbound.kind}")
            self._reprompt(ctx, replies)
            return
        elif not text or (not fold(text) and step.input is None):
            self._say(ctx, replies, "common/empty" if not text else "common/not_understood")
            self._reprompt(ctx, replies)
            return
        else:
            option = self._option_by_text(ctx.conversation.options, text)
        if option is not None:
            self._choose(ctx, replies, step, option)
        elif step.input is not None:
            self._take_input(ctx, replies, step, text)
        else:
            self._say(ctx, replies, "common/not_understood")
            self._reprompt(ctx, replies)

    def _take_input(self, ctx: Context, replies: list[Reply], step: StepSpec, text: str) -> None:
        spec = step.input
        assert spec is not None
        try:
            value = PARSERS[spec.parse](ctx, text)
        except ParseError as error:
            self._say(ctx, replies, error.template or spec.error)
            self._reprompt(ctx, replies)
            return
        if spec.save:
            ctx.data[spec.save] = value
        here = Target(ctx.conversation.flow, ctx.conversation.step)
        next_target = self._run(ctx, replies, step, spec.do, here)
        if next_target is None and spec.goto:
            next_target = self.flows.resolve(here.flow, spec.goto)
        self._go(ctx, replies, next_target or here)

    def _choose(self, ctx: Context, replies: list[Reply], step: StepSpec, option: dict[str, Any]) -> None:
        choice = step.choices[option["choice"]]
        ctx.data.update(option.get("set") or {})
        here = Target(ctx.conversation.flow, ctx.conversation.step)
        call = ActionCall(action=choice.do.action, args=option.get("args") or {}) if choice.do else None
        next_target = self._run(ctx, replies, step, call, here)
        if next_target is None and choice.goto:
            next_target = self.flows.resolve(here.flow, choice.goto)
        self._go(ctx, replies, next_target or here)

    # -- moving between steps ---------------------------------------------------------------------
    def _home(self, ctx: Context) -> Target:
        flow = "menu" if ctx.resident is not None else "onboarding"
        return self.flows.start_of(flow)

    def _go(
        self, ctx: Context, replies: list[Reply], target: Target, *, push: bool = True, quiet: bool = False
    ) -> None:
        """Enter `target` and follow automatic steps until one waits for the resident."""
        conversation = ctx.conversation
        leaving = Target(conversation.flow, conversation.step) if conversation.flow else None
        for _ in range(MAX_HOPS):
            step = self.flows.step(target)
            redirected = self._run(ctx, replies, step, step.do, target)
            if redirected is not None:
                target = redirected
                continue
            if not quiet:
                for name in step.say:
                    self._say(ctx, replies, name)
            if step.waits:
                self._settle(ctx, replies, target, step, leaving if push else None, quiet)
                return
            assert step.goto is not None
            target = self.flows.resolve(target.flow, step.goto)
        raise RuntimeError(f"flow loop near {target}")

    def _settle(
        self,
        ctx: Context,
        replies: list[Reply],
        target: Target,
        step: StepSpec,
        leaving: Target | None,
        quiet: bool,
    ) -> None:
        conversation = ctx.conversation
        if target.flow == "menu" and target.step == self.flows.flows["menu"].start:
            conversation.stack = []
        elif leaving is not None and leaving != target and leaving.flow in self.flows.flows:
            conversation.stack = [*conversation.stack, [leaving.flow, leaving.step]][-MAX_STACK:]
        conversation.flow, conversation.step = target.flow, target.step
        conversation.turn += 1
        conversation.options = self._options(ctx, step)
        if not quiet:
            self._attach_options(ctx, replies)

    def _run(
        self, ctx: Context, replies: list[Reply], step: StepSpec, call: ActionCall | None, here: Target
    ) -> Target | None:
        """Run an action; its outcome or a domain error may send the resident elsewhere."""
        if call is None:
            return None
        args = {k: self._value(v, ctx.template_context()) for k, v in call.args.items()}
        try:
            outcome = ACTIONS[call.action](ctx, **args)
        except domain_errors.DomainError as error:
            for klass in type(error).__mro__:
                handler = step.errors.get(klass.__name__)
                if handler is not None:
                    for name in handler.say:
                        self._say(ctx, replies, name)
                    return self.flows.resolve(here.flow, handler.goto)
            log.warning("unhandled %s in %s/%s", type(error).__name__, here.flow, here.step)
            self._say(ctx, replies, "common/sorry")
            return self._home(ctx)
        if outcome is not None and outcome in step.outcomes:
            return self.flows.resolve(here.flow, step.outcomes[outcome])
        return None

    # -- options ----------------------------------------------------------------------------------
    def _options(self, ctx: Context, step: StepSpec) -> list[dict[str, Any]]:
        options: list[dict[str, Any]] = []
        base = ctx.template_context()
        for index, choice in enumerate(step.choices):
            if choice.for_each is not None:
                for position, item in enumerate(ctx.vars.get(choice.for_each) or []):
                    scope = {**base, "item": item}
                    label = (
                        self.renderer.inline(choice.label, scope)
                        if "{{" in choice.label
                        else self.renderer.label(choice.label, ctx.language, scope)
                    )
                    options.append(
                        {
                            "key": f"{choice.for_each}_{position + 1}",
                            "label": label,
                            "set": {k: self._value(v, scope) for k, v in choice.set.items()},
                            "args": {
                                k: self._value(v, scope) for k, v in (choice.do.args if choice.do else {}).items()
                            },
                            "choice": index,
                        }
                    )
            else:
                options.append(
                    {
                        "key": choice.key,
                        "label": ctx.label(choice.label),
                        "set": {k: self._value(v, base) for k, v in choice.set.items()},
                        "args": {k: self._value(v, base) for k, v in (choice.do.args if choice.do else {}).items()},
                        "choice": index,
                    }
                )
        for number, option in enumerate(options, start=1):
            option["n"] = number
        return options

    def _value(self, value: Any, scope: dict[str, Any]) -> Any:
        if not isinstance(value, str) or "{{" not in value:
            return value
        whole = _WHOLE_EXPRESSION.match(value)
        if whole:
            return self.renderer.env.compile_expression(whole.group(1))(**scope)
        return self.renderer.inline(value, scope)

    def _attach_options(self, ctx: Context, replies: list[Reply]) -> None:
        conversation = ctx.conversation
        if not conversation.options:
            return
        if not replies:
            self._say(ctx, replies, "common/choose")
        replies[-1].options = [
            Option(id=f"{conversation.turn}.{o['n']}", label=o["label"], number=o["n"]) for o in conversation.options
        ]

    def _reprompt(self, ctx: Context, replies: list[Reply]) -> None:
        """Show the current options again, with the same ids (buttons already on screen stay valid)."""
        if ctx.conversation.options:
            self._attach_options(ctx, replies)
        elif not replies:
            self._say(ctx, replies, "common/not_understood")

    def _option_by_id(self, conversation: Conversation, choice: str) -> dict[str, Any] | None:
        turn, _, number = choice.partition(".")
        if turn != str(conversation.turn) or not number.isdigit():
            return None
        return next((o for o in conversation.options if o["n"] == int(number)), None)

    def _option_by_text(self, options: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
        wanted = fold(text)
        if not wanted:
            return None
        if wanted.isdigit():
            return next((o for o in options if o["n"] == int(wanted)), None)
        for option in options:
            synonyms = self.renderer.answers.get(str(option["key"]), frozenset())
            if wanted in (fold(str(option["key"]).replace("_", " ")), fold(option["label"])) or wanted in synonyms:
                return option
        scored = sorted(((fuzz.ratio(wanted, fold(o["label"])), o["n"]) for o in options), reverse=True)
        if scored and scored[0][0] >= 85 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            return next(o for o in options if o["n"] == scored[0][1])
        return None

    def _keywords(self, text: str) -> set[str]:
        folded = fold(text)
        if not folded:
            return set()
        return {group for group, words in self.renderer.keywords.items() if folded in words}

    def _say(self, ctx: Context, replies: list[Reply], template: str, **extra: Any) -> None:
        replies.append(Reply(text=ctx.render(template, **extra)))

    # -- a message the service sends on its own initiative ------------------------------------------
    def push(
        self, session: Session, channel: str, address: str, target_flow: str, target_step: str, data: dict[str, Any]
    ) -> Turn:
        """Put the conversation of (channel, address) at a step and return what that step says.

        Used for reminders and offers with buttons: the options carry ids of the conversation's new turn,
        so a press (or an answer by number) is an ordinary answer to that step. The step the resident was
        at goes on the stack ("retour" leads back to it).
        """
        now = self.clock.now()
        inbound = Inbound(channel=channel, address=address, kind="text")
        conversation, _ = self._conversation(session, inbound, now)
        resident = self._resident(session, conversation, inbound)
        ctx = Context(session, now, self.settings, self.renderer, inbound, conversation, resident)
        ctx.data.update(data)
        replies: list[Reply] = []
        self._go(ctx, replies, Target(target_flow, target_step or self.flows.flows[target_flow].start))
        # An answer within resume_after is an answer to this message, not a return after a long pause
        conversation.last_inbound_at = now
        conversation.updated_at = now
        flag_modified(conversation, "data")
        session.add(conversation)
        if resident is not None:
            logged = [(reply, self._log(session, resident, channel, "out", reply.text, now, None)) for reply in replies]
            session.flush()
            for reply, row in logged:
                reply.log_id = row.id
        session.flush()
        return Turn(
            replies=replies,
            effects=ctx.effects,
            resident_id=resident.id if resident else None,
            flow=conversation.flow,
            step=conversation.step,
        )
