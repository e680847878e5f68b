"""The conversation engine: one inbound message in, replies and effects out, all within one transaction.

It never sends anything and knows no provider: channels turn their updates into `Inbound` and render
the `Reply` objects it returns. The dispatcher calls `handle` inside a database transaction.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from relai_bot.clock import Clock
from relai_bot.config import Settings
from relai_bot.conversation import actions as _actions  # noqa: F401  (registers actions and parsers)
from relai_bot.conversation import flow_checks, options, sharing, state
from relai_bot.conversation.actions.language import choose_language
from relai_bot.conversation.context import ACTIONS, PARSERS, ActionSpec, Context, ParseError
from relai_bot.conversation.flow_checks import Checks
from relai_bot.conversation.flows import ActionCall, FlowSet, StepSpec, Target
from relai_bot.conversation.render import Renderer
from relai_bot.entry_points import ALL as ENTRY_POINTS
from relai_bot.entry_points import (
    BOOKING,
    CALLBACK,
    CONFIRM_STOP,
    FIND_SCHEME,
    FIRST_CONTACT,
    HOME,
    MY_APPOINTMENTS,
    SEARCH_SCHEMES,
    EntryPoint,
)
from relai_bot.services import dedup, message_log, residents
from relai_bot.services import errors as domain_errors
from relai_bot.services.text import fold
from relai_bot.store.models import Conversation
from relai_bot.turns import Inbound, Reply, Turn

log = logging.getLogger(__name__)

MAX_HOPS = 30
MAX_INPUT_CHARS = 1000
# Where keywords lead by themselves (templates/messages/<lang>/keywords.yaml)
KEYWORD_ENTRIES: dict[str, EntryPoint] = {"appointments": MY_APPOINTMENTS}
# Keywords that are the answer instead where a step offers an option of that name ("annuler" a rendez-vous)
ANSWERABLE = ("cancel", "back", "appointments")
COMMAND_PREFIX = "/"
# Where an intent found in a sentence leads (conversation/intents.py); "help" answers with the step's
# help, "find" searches with the words typed (FIND_SCHEME when they are too few), "stop" only asks
INTENT_ENTRIES: dict[str, EntryPoint] = {
    "book": BOOKING,
    "appointments": MY_APPOINTMENTS,
    "cancel_appointment": MY_APPOINTMENTS,
    "callback": CALLBACK,
    "stop": CONFIRM_STOP,
    "find": FIND_SCHEME,
}
HELP_INTENT = "help"
SEARCH_PARSER = "search"  # a step whose input searches comes after intents; any other input before


def domain_error_names() -> frozenset[str]:
    return frozenset(
        name
        for name, value in vars(domain_errors).items()
        if isinstance(value, type) and issubclass(value, domain_errors.DomainError)
    )


class Engine:
    def __init__(
        self, flows: FlowSet, renderer: Renderer, settings: Settings, clock: Clock, *, strict: bool = False
    ) -> None:
        self.flows = flows
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        # Tests set strict: an action or a parser that does something it did not declare raises
        self.strict = strict
        flow_checks.validate(flows, self.checks(renderer))
        unrouted = renderer.intents.intents - set(INTENT_ENTRIES) - {HELP_INTENT}
        if unrouted:
            raise ValueError(f"keywords.yaml: intents {sorted(unrouted)} lead nowhere (engine.INTENT_ENTRIES)")

    @staticmethod
    def checks(renderer: Renderer, entry_points: Mapping[str, EntryPoint] = ENTRY_POINTS) -> Checks:
        """What the flows are checked against: these templates, the registered actions and parsers, and
        the entry points the code relies on (none for a set of flows checked on its own)."""
        return Checks(
            template_exists=renderer.template_exists,
            label_exists=renderer.label_exists,
            actions=ACTIONS,
            parsers=PARSERS,
            errors=domain_error_names(),
            entry_points=entry_points,
        )

    # -- one turn ---------------------------------------------------------------------------------
    def handle(self, session: Session, inbound: Inbound) -> Turn:
        now = self.clock.now()
        if inbound.message_id and not dedup.first_time(session, inbound.channel, inbound.message_id, now):
            return Turn(duplicate=True)
        conversation, created = state.lock_conversation(session, inbound.channel, inbound.address, now)
        is_new = created or self._stale(conversation)
        resident = state.resident_of(session, conversation, inbound)
        ctx = Context(session, now, self.settings, self.renderer, inbound, conversation, resident)
        replies: list[Reply] = []
        text = (inbound.text or "").strip()[:MAX_INPUT_CHARS]
        # The message received is logged with the replies, in one statement at the end of the turn
        received = message_log.Received(text or f"[{inbound.kind}]", inbound.message_id) if resident else None
        if resident is not None:
            residents.touch(session, resident, now)
            residents.mark_reachable(session, inbound.channel, inbound.address)
        self._turn(ctx, replies, is_new, text)
        if ctx.attachments and replies:
            replies[-1].attachment = ctx.attachments[-1]
        if ctx.share_phone and replies:
            replies[-1].share_phone = ctx.share_phone
        if ctx.forget:
            state.forget(session, conversation)
        else:
            state.save(session, conversation, now)
            if ctx.resident is not None:
                state.log_replies(session, ctx.resident, inbound.channel, replies, now, received=received)
        session.flush()
        return Turn(
            replies=replies,
            effects=ctx.effects,
            resident_id=ctx.resident.id if ctx.resident and not ctx.forget else None,
            flow=None if ctx.forget else conversation.flow,
            step=None if ctx.forget else conversation.step,
        )

    def _stale(self, conversation: Conversation) -> bool:
        """A conversation whose step no longer exists (flows changed between two messages) starts afresh."""
        flow = self.flows.flows.get(conversation.flow)
        return flow is None or conversation.step not in flow.steps

    def _turn(self, ctx: Context, replies: list[Reply], is_new: bool, text: str) -> None:
        conversation, resident, inbound = ctx.conversation, ctx.resident, ctx.inbound
        matched = self._keywords(text) if inbound.kind == "text" else set()
        # "start" only means something to a resident who said stop; "oui" is an answer otherwise
        keyword = next((k for k in ("stop", "menu", "appointments", "cancel", "back", "help") if k in matched), None)
        if keyword in ANSWERABLE and self._answers_here(ctx, text):
            keyword = None  # the word is also an answer here ("annuler" a rendez-vous, "mes rendez-vous")
        intent = self._intent(ctx, text) if keyword is None and not matched else None
        if inbound.kind == "start":
            ctx.data["start_payload"] = str(inbound.payload.get("payload") or "")[:64]
        if resident is not None and resident.stopped_at is not None:
            pressed = options.by_id(conversation, inbound.choice or "") if inbound.kind == "choice" else None
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
                self._say(ctx, replies, "common/stopped")
                self._go(ctx, replies, self._home(ctx), quiet=True)
            else:
                ctx.forget = True
                self._say(ctx, replies, "common/stopped_anonymous")
            return
        requested = self.renderer.language_words.requested(text) if inbound.kind == "text" else None
        if requested is not None and (is_new or not self._answers_here(ctx, text)):
            self._switch_language(ctx, replies, requested, is_new)
            if replies:
                return
        if is_new or inbound.kind == "start":
            conversation.stack = []
            self._go(ctx, replies, self._home(ctx))
            return
        # An explicit request, or something shared, is answered even after a long pause
        if keyword in KEYWORD_ENTRIES:
            self._go(ctx, replies, self._entry(ctx, KEYWORD_ENTRIES[keyword]))
            return
        if inbound.kind in ("contact", "location"):
            self._shared(ctx, replies, self.flows.step(Target(conversation.flow, conversation.step)))
            return
        paused = conversation.last_inbound_at is not None and (
            ctx.now - conversation.last_inbound_at > self.settings.resume_after
        )
        if paused and intent in INTENT_ENTRIES:
            # "je veux un rdv" after a week away: the wish, not the step left a week ago
            self._follow_intent(
                ctx, replies, self.flows.step(Target(conversation.flow, conversation.step)), intent, text
            )
            return
        if paused and conversation.flow not in (HOME.flow, FIRST_CONTACT.flow):
            title = ctx.label(self.flows.flows[conversation.flow].title)
            self._say(ctx, replies, "common/welcome_back", where=title)
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword == "menu":
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword == "cancel":
            if conversation.flow != HOME.flow:
                self._say(ctx, replies, "common/cancelled")
            self._go(ctx, replies, self._home(ctx))
            return
        if keyword == "back":
            self._back(ctx, replies)
            return
        step = self.flows.step(Target(conversation.flow, conversation.step))
        if keyword == "help":
            self._help(ctx, replies, step)
            return
        self._answer(ctx, replies, step, text, intent)

    def _switch_language(self, ctx: Context, replies: list[Reply], language: str, is_new: bool) -> None:
        """ "kréol", "français" at any step: the resident's language from now on, and the question asked again
        in it (its action runs again, as on the way back, unless it may not be redone). A first message
        of one word leaves the rest to the first contact (onboarding's note_language) or the menu."""
        choose_language(ctx, language)
        if is_new:
            return
        here = Target(ctx.conversation.flow, ctx.conversation.step)
        step = self.flows.step(here)
        self._say(ctx, replies, "common/language_set")
        if step.do is None or not ACTIONS[step.do.action].irreversible:
            self._go(ctx, replies, here)
        else:
            self._reprompt(ctx, replies)

    def _answer(self, ctx: Context, replies: list[Reply], step: StepSpec, text: str, intent: str | None = None) -> None:
        inbound = ctx.inbound
        if inbound.kind == "choice":
            option = options.by_id(ctx.conversation, inbound.choice or "")
            if option is not None:
                self._choose(ctx, replies, step, option)
            else:
                self._say(ctx, replies, "common/stale_button")
                self._reprompt(ctx, replies)
        elif inbound.kind != "text":
            self._say(ctx, replies, f"common/unsupported_{inbound.kind}")
            self._reprompt(ctx, replies)
        elif not text or (not fold(text) and step.input is None):
            self._say(ctx, replies, "common/empty" if not text else "common/not_understood")
            self._reprompt(ctx, replies)
        else:
            self._typed(ctx, replies, step, text, intent)

    def _typed(self, ctx: Context, replies: list[Reply], step: StepSpec, text: str, intent: str | None = None) -> None:
        """A typed answer: one of the options (number, word, label), else the step's own free input
        (a phone number, an age: an intent only where it does not parse), else an intent ("je veux un
        rdv"), else the step's search ("permis" at the menu)."""
        option = options.by_text(ctx.conversation.options, text, self.renderer.answers)
        if option is not None:
            self._choose(ctx, replies, step, option)
        elif step.input is not None and step.input.parse != SEARCH_PARSER:
            self._take_input(ctx, replies, step, text, intent)
        elif intent is not None:
            self._follow_intent(ctx, replies, step, intent, text)
        elif step.input is not None:
            self._take_input(ctx, replies, step, text)
        else:
            self._say(ctx, replies, "common/not_understood")
            self._reprompt(ctx, replies)

    def _shared(self, ctx: Context, replies: list[Reply], step: StepSpec) -> None:
        """A contact or a position: the step's answer, or a text of its own (see conversation.sharing)."""
        decide = sharing.contact if ctx.inbound.kind == "contact" else sharing.location
        answer = decide(ctx, step)
        ctx.share_phone = answer.share_phone or ctx.share_phone
        if answer.parsed is not None:
            self._take_input(ctx, replies, step, answer.parsed)
        elif answer.typed is not None:
            self._typed(ctx, replies, step, answer.typed)
        else:
            assert answer.say is not None
            self._say(ctx, replies, answer.say, **answer.context)
            if answer.reprompt:
                self._reprompt(ctx, replies)

    def _take_input(
        self, ctx: Context, replies: list[Reply], step: StepSpec, text: str, intent: str | None = None
    ) -> None:
        spec = step.input
        assert spec is not None
        parser = PARSERS[spec.parse]
        try:
            value = parser.function(ctx, text)
        except ParseError as error:
            if self.strict and error.template is not None and error.template not in parser.errors:
                raise RuntimeError(
                    f"parser {parser.name!r} answered with the undeclared template {error.template!r}"
                ) from error
            if intent is not None:  # not an answer to this step, but a wish ("je veux un rdv" for a phone)
                self._follow_intent(ctx, replies, step, intent, text)
                return
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

    def _intent(self, ctx: Context, text: str) -> str | None:
        """The intent of a typed sentence; none before consent (the consent question reads its own
        answers: conversation/actions/parsers.py parse_consent), nor for a command."""
        if ctx.inbound.kind != "text" or ctx.resident is None or text.startswith(COMMAND_PREFIX):
            return None
        return self.renderer.intents.match(text)

    def _help(self, ctx: Context, replies: list[Reply], step: StepSpec) -> None:
        self._say(ctx, replies, step.help or "common/help")
        self._reprompt(ctx, replies)

    def _follow_intent(self, ctx: Context, replies: list[Reply], step: StepSpec, intent: str, text: str) -> None:
        """Go where the intent leads (INTENT_ENTRIES): the step's help, a search with the words typed, or
        an entry point."""
        if intent == HELP_INTENT:
            self._help(ctx, replies, step)
            return
        entry = INTENT_ENTRIES[intent]
        if entry == FIND_SCHEME and step.input is not None and step.input.parse == SEARCH_PARSER:
            self._take_input(ctx, replies, step, text)  # this step's own search ("formation" at the menu)
            return
        if entry == FIND_SCHEME:
            try:
                query: str | None = PARSERS[SEARCH_PARSER].function(ctx, text)
            except ParseError:
                query = None  # too few words to search: the finder asks how to look instead
            if query is not None:
                ctx.data["query"] = query
                entry = SEARCH_SCHEMES
        self._go(ctx, replies, self._entry(ctx, entry))

    # -- moving between steps ---------------------------------------------------------------------
    def _home(self, ctx: Context) -> Target:
        return self.flows.entry(HOME if ctx.resident is not None else FIRST_CONTACT)

    def _entry(self, ctx: Context, entry: EntryPoint) -> Target:
        """An entry point of the program's own; someone who has not consented yet goes home instead."""
        return self.flows.entry(entry) if ctx.resident is not None else self._home(ctx)

    def _answers_here(self, ctx: Context, text: str) -> bool:
        """Is this typed text an answer to the current step? A command ("/annuler") never is."""
        if text.startswith(COMMAND_PREFIX):
            return False
        return options.by_text(ctx.conversation.options, text, self.renderer.answers) is not None

    def _go(self, ctx: Context, replies: list[Reply], target: Target, *, quiet: bool = False) -> None:
        """Enter `target` and follow automatic steps until one waits for the resident."""
        for _ in range(MAX_HOPS):
            step = self.flows.step(target)
            entered = copy.deepcopy(ctx.data)  # the answers as they were before this step (its way back, see state)
            redirected = self._run(ctx, replies, step, step.do, target)
            if redirected is not None:
                target = redirected
                continue
            if not quiet:
                for name in step.say:
                    self._say(ctx, replies, name)
            if step.waits:
                self._settle(ctx, replies, target, step, entered, quiet)
                return
            assert step.goto is not None
            target = self.flows.resolve(target.flow, step.goto)
        raise RuntimeError(f"flow loop near {target}")

    def _back(self, ctx: Context, replies: list[Reply]) -> None:
        """Go back ("retour") to the question shown before the current one, entered again with the answers
        it had then: its action runs again, so a list is fresh. The rules of the way back: state.py."""
        conversation = ctx.conversation
        here = Target(conversation.flow, conversation.step)
        for _ in range(state.MAX_VISITS):
            previous = state.step_back(conversation, self._exists)
            if previous is None:
                break
            said, effects = len(replies), len(ctx.effects)
            self._go(ctx, replies, Target(previous.flow, previous.step))
            if Target(conversation.flow, conversation.step) != here:
                return
            # That question now moves on to the very step being left (the world changed): one more back
            del replies[said:], ctx.effects[effects:]
        self._go(ctx, replies, self._home(ctx))

    def _exists(self, flow: str, step: str) -> bool:
        return flow in self.flows.flows and step in self.flows.flows[flow].steps

    def _settle(
        self,
        ctx: Context,
        replies: list[Reply],
        target: Target,
        step: StepSpec,
        entered: dict[str, Any],
        quiet: bool,
    ) -> None:
        conversation = ctx.conversation
        state.record_visit(conversation, target.flow, target.step, entered, first=target == self.flows.entry(HOME))
        conversation.flow, conversation.step = target.flow, target.step
        conversation.turn += 1
        conversation.options = options.build_options(ctx, step)
        if not quiet:
            self._attach_options(ctx, replies)

    def _run(
        self, ctx: Context, replies: list[Reply], step: StepSpec, call: ActionCall | None, here: Target
    ) -> Target | None:
        """Run an action; its outcome or a domain error may send the resident elsewhere."""
        if call is None:
            return None
        args = {k: options.render_value(self.renderer, v, ctx.template_context()) for k, v in call.args.items()}
        spec = ACTIONS[call.action]
        before = (set(ctx.vars), set(ctx.data)) if self.strict else None
        try:
            outcome = spec.function(ctx, **args)
        except domain_errors.DomainError as error:
            for klass in type(error).__mro__:
                handler = step.errors.get(klass.__name__)
                if handler is not None:
                    for name in handler.say:
                        self._say(ctx, replies, name)
                    return self.flows.resolve(here.flow, handler.goto)
            log.warning(
                "unhandled %s in %s/%s",
                type(error).__name__,
                here.flow,
                here.step,
                extra={"channel": ctx.channel, "flow": here.flow, "step": here.step},
            )
            self._say(ctx, replies, "common/sorry")
            return self._home(ctx)
        if before is not None:
            _check_declared(spec, ctx, outcome, *before)
        if spec.irreversible:
            state.forget_visits(ctx.conversation)  # "retour" must neither undo nor redo it
        if outcome is not None and outcome in step.outcomes:
            return self.flows.resolve(here.flow, step.outcomes[outcome])
        return None

    # -- options ----------------------------------------------------------------------------------
    def _attach_options(self, ctx: Context, replies: list[Reply]) -> None:
        if not ctx.conversation.options:
            return
        if not replies:
            self._say(ctx, replies, "common/choose")
        replies[-1].options = options.offered(ctx.conversation)

    def _reprompt(self, ctx: Context, replies: list[Reply]) -> None:
        """Show the current options again, with the same ids (buttons already on screen stay valid)."""
        if ctx.conversation.options:
            self._attach_options(ctx, replies)
        elif not replies:
            self._say(ctx, replies, "common/not_understood")

    def _keywords(self, text: str) -> set[str]:
        folded = fold(text)
        if not folded:
            return set()
        return {group for group, words in self.renderer.keywords.items() if folded in words}

    def _say(self, ctx: Context, replies: list[Reply], template: str, **extra: Any) -> None:
        replies.append(Reply(text=ctx.render(template, **extra), language=ctx.language))

    # -- a message the service sends on its own initiative ------------------------------------------
    def push(
        self, session: Session, channel: str, address: str, target_flow: str, target_step: str, data: dict[str, Any]
    ) -> Turn:
        """Put the conversation of (channel, address) at a step and return what that step says.

        Used for reminders and offers with buttons: the options carry ids of the conversation's new turn,
        so a press (or an answer by number) is an ordinary answer to that step. The step the resident was
        at stays on the way back ("retour" leads back to it, see state.record_visit).
        """
        now = self.clock.now()
        inbound = Inbound(channel=channel, address=address, kind="text")
        conversation, _ = state.lock_conversation(session, channel, address, now)
        resident = state.resident_of(session, conversation, inbound)
        ctx = Context(session, now, self.settings, self.renderer, inbound, conversation, resident)
        ctx.data.update(data)
        replies: list[Reply] = []
        self._go(ctx, replies, Target(target_flow, target_step or self.flows.flows[target_flow].start))
        # An answer within resume_after is an answer to this message, not a return after a long pause
        state.save(session, conversation, now)
        if resident is not None:
            state.log_replies(session, resident, channel, replies, now)
        session.flush()
        return Turn(
            replies=replies,
            effects=ctx.effects,
            resident_id=resident.id if resident else None,
            flow=conversation.flow,
            step=conversation.step,
        )


def _check_declared(
    spec: ActionSpec, ctx: Context, outcome: str | None, vars_before: set[str], data_before: set[str]
) -> None:
    """Strict mode: an action did nothing it does not declare (the validator trusts the declarations)."""
    if outcome is not None and outcome not in spec.outcomes:
        raise RuntimeError(f"action {spec.name!r} returned the undeclared outcome {outcome!r}")
    new_vars = ctx.vars.keys() - vars_before - set(spec.provides)
    if new_vars:
        raise RuntimeError(f"action {spec.name!r} set ctx.vars {sorted(new_vars)} without declaring them in provides")
    new_data = ctx.data.keys() - data_before - set(spec.writes)
    if new_data:
        raise RuntimeError(f"action {spec.name!r} wrote ctx.data {sorted(new_data)} without declaring them in writes")
