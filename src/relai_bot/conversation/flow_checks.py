"""Checking flow files against the rest of the program, before any resident meets them.

Structure (steps, gotos, dead ends, reachability), the words (templates, labels), and every use of an
action or a parser against what it declares: arguments, outcomes, variables for `for_each`, the
conversation data it reads. Entry points the code relies on (relai_bot/entry_points.py) are checked
when they are passed in `Checks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from relai_bot.conversation.context import ActionSpec, ParserSpec, type_name
from relai_bot.conversation.flows import ActionCall, FlowError, FlowProblem, FlowSet, StepSpec, calls, edges
from relai_bot.entry_points import FIRST_CONTACT, HOME, EntryPoint

# The engine cannot do without these (a first contact, the way home)
REQUIRED_FLOWS = (FIRST_CONTACT.flow, HOME.flow)
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Checks:
    """What the validator needs to know about the rest of the program."""

    template_exists: Callable[[str], bool]
    label_exists: Callable[[str], bool]
    actions: Mapping[str, ActionSpec]
    parsers: Mapping[str, ParserSpec]
    errors: frozenset[str]
    # Entry points to check, by the name code knows them under (none: a set of flows checked on its own)
    entry_points: Mapping[str, EntryPoint] = field(default_factory=lambda: MappingProxyType({}))


def validate(flows: FlowSet, checks: Checks) -> None:
    """Raise FlowError naming every problem of the flow set (start-up and `relai-bot flows validate`)."""
    problems = find_problems(flows, checks)
    if problems:
        raise FlowError(problems)


def find_problems(flows: FlowSet, checks: Checks) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    for required in REQUIRED_FLOWS:
        if required not in flows.flows:
            problems.append(FlowProblem("conversations/", None, f"the flow {required!r} is missing"))
    reachable: set[tuple[str, str]] = set()
    written = _written_keys(flows, checks)
    for flow_id, flow in flows.flows.items():
        reachable.add((flow_id, flow.start))
        file = flows.files[flow_id]
        if flow.start not in flow.steps:
            problems.append(FlowProblem(file, None, f"start step {flow.start!r} does not exist"))
        if not checks.label_exists(flow.title):
            problems.append(FlowProblem(file, None, f"title label {flow.title!r} does not exist"))
        for step_id, step in flow.steps.items():
            found = _check_step(flows, flow_id, step_id, step, checks, reachable)
            found += _check_actions(step, checks, written)
            # Several choices may repeat one mistake: it is said once
            problems += [FlowProblem(file, step_id, text) for text in dict.fromkeys(found)]
    # A step the code sends residents to (an entry point) is reachable from the outside
    reachable.update((p.flow, p.step) for p in checks.entry_points.values() if p.step and p.flow in flows.flows)
    closure = _closure(flows, reachable)
    for flow_id, flow in flows.flows.items():
        for step_id in flow.steps:
            if (flow_id, step_id) not in closure:
                problems.append(FlowProblem(flows.files[flow_id], step_id, "unreachable step"))
    for name, point in checks.entry_points.items():
        problems += _check_entry_point(flows, name, point, checks)
    return problems


def _closure(flows: FlowSet, roots: set[tuple[str, str]]) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in seen or node[0] not in flows.flows or node[1] not in flows.flows[node[0]].steps:
            continue
        seen.add(node)
        step = flows.flows[node[0]].steps[node[1]]
        for _, goto in edges(step):
            try:
                target = flows.resolve(node[0], goto)
            except KeyError:
                continue
            todo.append((target.flow, target.step))
    return seen


def _check_step(
    flows: FlowSet, flow_id: str, step_id: str, step: StepSpec, checks: Checks, reachable: set[tuple[str, str]]
) -> list[str]:
    """The step's structure and words (the caller adds the file and the step to each problem)."""
    problems: list[str] = []
    if not _ID.match(step_id):
        problems.append("step ids are snake_case, 40 characters at most")
    if not step.waits and step.goto is None:
        problems.append("dead end: the step has no choices, no input and no goto")
    if step.outcomes and step.do is None:
        problems.append("`outcomes` without a `do` action")
    for label, goto in edges(step):
        try:
            target = flows.resolve(flow_id, goto)
        except KeyError:
            problems.append(f"{label} goto {goto!r}: no such flow")
            continue
        if target.flow not in flows.flows:
            problems.append(f"{label} goto {goto!r}: no such flow")
        elif target.step not in flows.flows[target.flow].steps:
            problems.append(f"{label} goto {goto!r} leads nowhere")
        elif target.flow != flow_id:
            reachable.add((target.flow, target.step))
    templates = list(step.say) + ([step.help] if step.help else [])
    templates += [t for e in step.errors.values() for t in e.say]
    if step.input is not None:
        templates.append(step.input.error)
    for template in templates:
        if not checks.template_exists(template):
            problems.append(f"template {template!r} does not exist")
    for choice in step.choices:
        if "{{" not in choice.label and not checks.label_exists(choice.label):
            problems.append(f"label {choice.label!r} does not exist")
    for call, _ in calls(step):
        if call.action not in checks.actions:
            problems.append(f"action {call.action!r} is not registered")
    if step.input is not None:
        parser = checks.parsers.get(step.input.parse)
        if parser is None:
            problems.append(f"parser {step.input.parse!r} is not registered")
        else:
            problems += [
                f"template {t!r} of parser {parser.name!r} does not exist"
                for t in parser.errors
                if not checks.template_exists(t)
            ]
    if step.input is not None and step.input.goto is None and step.input.do is None:
        problems.append("input needs a `goto` or a `do`")
    for name in step.errors:
        if name not in checks.errors:
            problems.append(f"error {name!r} is not a domain error")
    keys = [c.key for c in step.choices if c.key]
    if len(keys) != len(set(keys)):
        problems.append("two choices share a key")
    return problems


# -- uses of actions against their declarations ---------------------------------------------------------
def _written_keys(flows: FlowSet, checks: Checks) -> frozenset[str]:
    """Every conversation data key something may write: choices, inputs, actions used, entry points."""
    keys: set[str] = set()
    for flow in flows.flows.values():
        for step in flow.steps.values():
            for choice in step.choices:
                keys.update(choice.set)
            if step.input is not None and step.input.save:
                keys.add(step.input.save)
            for call, _ in calls(step):
                spec = checks.actions.get(call.action)
                keys.update(spec.writes if spec else ())
    for point in checks.entry_points.values():
        keys.update(point.data)
    return frozenset(keys)


def _check_actions(step: StepSpec, checks: Checks, written: frozenset[str]) -> list[str]:
    problems: list[str] = []
    used: list[ActionSpec] = []
    for call, _ in calls(step):
        spec = checks.actions.get(call.action)
        if spec is None:
            continue  # reported as not registered
        used.append(spec)
        problems += _check_arguments(call, spec)
        problems += [
            f"missing data key {key!r}: action {spec.name!r} reads it, "
            "and no choice `set`, input `save`, action or entry point writes it"
            for key in spec.reads
            if key not in written
        ]
    if used:
        returned = sorted({outcome for spec in used for outcome in spec.outcomes})
        for outcome in step.outcomes:
            if outcome not in returned:
                problems.append(f"outcome {outcome!r} is not returned by {_returns(used, returned)}")
    do = checks.actions.get(step.do.action) if step.do else None
    for choice in step.choices:
        if choice.for_each is None:
            continue
        if step.do is None:
            problems.append(f"for_each {choice.for_each!r} needs a `do` action that provides it")
        elif do is not None and choice.for_each not in do.provides:
            provided = ", ".join(do.provides) or "nothing"
            problems.append(
                f"for_each {choice.for_each!r} is not provided by action {do.name!r} (it provides: {provided})"
            )
    return problems


def _returns(used: list[ActionSpec], returned: list[str]) -> str:
    """Who returns what, for a message: action 'x' (it returns: a, b), actions 'x', 'y' (they return no outcome)."""
    names = list(dict.fromkeys(repr(spec.name) for spec in used))
    subject = "they return" if len(names) > 1 else "it returns"
    what = f"{subject}: {', '.join(returned)}" if returned else f"{subject} no outcome"
    return f"{'actions' if len(names) > 1 else 'action'} {', '.join(names)} ({what})"


def _check_arguments(call: ActionCall, spec: ActionSpec) -> list[str]:
    problems: list[str] = []
    takes = {argument.name: argument for argument in spec.takes}
    for name, value in call.args.items():
        argument = takes.get(name)
        if argument is None:
            known = ", ".join(a.name for a in spec.takes) or "none"
            problems.append(f"action {spec.name!r} takes no argument {name!r} (it takes: {known})")
        elif not argument.accepts(value):
            problems.append(
                f"action {spec.name!r}: argument {name!r} expects {type_name(argument.type)}, got {value!r}"
            )
    for argument in spec.takes:
        if argument.required and argument.name not in call.args:
            problems.append(f"action {spec.name!r} needs the argument {argument.name!r} ({type_name(argument.type)})")
    return problems


# -- entry points ------------------------------------------------------------------------------------
def _check_entry_point(flows: FlowSet, name: str, point: EntryPoint, checks: Checks) -> list[FlowProblem]:
    """The flow and step exist, and the data handed over covers what the step's actions read."""
    flow = flows.flows.get(point.flow)
    if flow is None:
        if point.flow in REQUIRED_FLOWS:
            return []  # reported already
        return [FlowProblem("conversations/", None, f"entry point {name}: the flow {point.flow!r} is missing")]
    file = flows.files[point.flow]
    step_id = point.step or flow.start
    step = flow.steps.get(step_id)
    if step is None:
        return [] if not point.step else [FlowProblem(file, None, f"entry point {name}: no step {step_id!r}")]
    problems: list[str] = []
    on_entry = checks.actions.get(step.do.action) if step.do else None
    # What the step's own action writes when it is entered is there for its choices and input
    entered = set(on_entry.writes) if on_entry else set()
    for call, given in calls(step):
        spec = checks.actions.get(call.action)
        if spec is None:
            continue
        available = set(point.data) | given | (entered if call is not step.do else set())
        problems += [
            f"entry point {name} does not hand over data {key!r}, which action {spec.name!r} reads"
            for key in spec.reads
            if key not in available
        ]
    return [FlowProblem(file, step_id, text) for text in problems]
