"""Flow files (conversations/*.yaml): their format, loading, and Mermaid diagrams (checks: flow_checks.py).

A flow file, format version 1:

    spec: 1
    id: booking                 # = the file name
    title: booking.title        # a label key: how the flow is named to a resident coming back
    start: choose_scheme
    steps:
      choose_slot:
        do: free_slots                      # an action run when the step is entered (or {action: x, arg: v})
        outcomes: {none: no_slot}           # an action's outcome may lead elsewhere
        say: booking/choose_slot            # template(s) under templates/messages/<lang>/
        choices:                            # buttons / numbered options
          - {for_each: slots, label: "{{ item.label }}", set: {slot_id: "{{ item.id }}"}, goto: confirm}
          - {key: other_place, label: booking.other_place, goto: choose_venue}
        input: {parse: text, save: query, goto: results}   # free text, checked by a named parser
        errors: {SlotFull: {say: booking/slot_taken, goto: choose_slot}}
        help: booking/help_slot

A `goto` names a step of the same flow, `flow:ID` (that flow's start) or `flow:ID/STEP`.
Every step must lead somewhere (choices, input or goto): there is no dead end.
Actions and parsers declare what they take, return, provide and read (conversation/context.py);
the validator checks every use in the flow files against those declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from relai_bot.entry_points import EntryPoint


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionCall(_Spec):
    action: str
    args: dict[str, Any] = Field(default_factory=dict)


def _action(value: Any) -> Any:
    if value is None or isinstance(value, ActionCall):
        return value
    if isinstance(value, str):
        return {"action": value}
    if isinstance(value, dict) and "action" in value:
        return {"action": value["action"], "args": {k: v for k, v in value.items() if k != "action"}}
    raise ValueError("`do` is an action name or a mapping with `action:`")


def _templates(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class ChoiceSpec(_Spec):
    key: str | None = None
    label: str
    for_each: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    do: ActionCall | None = None
    goto: str | None = None

    _do = field_validator("do", mode="before")(_action)

    @model_validator(mode="after")
    def _needs_key(self) -> ChoiceSpec:
        if self.for_each is None and self.key is None:
            raise ValueError("a fixed choice needs a `key`")
        if self.goto is None and self.do is None:
            raise ValueError("a choice needs a `goto` or a `do`")
        return self


class InputSpec(_Spec):
    parse: str
    save: str | None = None
    do: ActionCall | None = None
    goto: str | None = None
    error: str = "common/not_understood"

    _do = field_validator("do", mode="before")(_action)


class ErrorSpec(_Spec):
    say: list[str] = Field(default_factory=list)
    goto: str

    _say = field_validator("say", mode="before")(_templates)


class StepSpec(_Spec):
    do: ActionCall | None = None
    outcomes: dict[str, str] = Field(default_factory=dict)
    say: list[str] = Field(default_factory=list)
    choices: list[ChoiceSpec] = Field(default_factory=list)
    input: InputSpec | None = None
    goto: str | None = None
    errors: dict[str, ErrorSpec] = Field(default_factory=dict)
    help: str | None = None

    _do = field_validator("do", mode="before")(_action)
    _say = field_validator("say", mode="before")(_templates)

    @property
    def waits(self) -> bool:
        """A step that waits for the resident (as opposed to one that moves on by itself)."""
        return bool(self.choices) or self.input is not None


class FlowSpec(_Spec):
    spec: int
    id: str
    title: str
    start: str
    steps: dict[str, StepSpec]

    @field_validator("spec")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported flow format version {value} (this program reads version 1)")
        return value


@dataclass(frozen=True)
class Target:
    flow: str
    step: str


@dataclass(frozen=True)
class FlowProblem:
    file: str
    step: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}, step {self.step}" if self.step else self.file
        return f"{where}: {self.problem}"


class FlowError(Exception):
    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FlowSet:
    def __init__(self, flows: dict[str, FlowSpec], files: dict[str, str]) -> None:
        self.flows = flows
        self.files = files

    def step(self, target: Target) -> StepSpec:
        return self.flows[target.flow].steps[target.step]

    def resolve(self, flow: str, goto: str) -> Target:
        """Where a `goto` written in `flow` leads."""
        if goto.startswith("flow:"):
            rest = goto.removeprefix("flow:")
            other, _, step = rest.partition("/")
            return Target(other, step or self.flows[other].start)
        return Target(flow, goto)

    def start_of(self, flow: str) -> Target:
        return Target(flow, self.flows[flow].start)

    def entry(self, point: EntryPoint) -> Target:
        """Where code that sends a resident to `point` puts them."""
        return Target(point.flow, point.step) if point.step else self.start_of(point.flow)

    # -- documentation ----------------------------------------------------------------------------
    def mermaid(self, flow_id: str, label: Callable[[str], str] = lambda key: key) -> str:
        """A Mermaid flowchart of one flow (other flows appear as rounded nodes).

        Node ids are prefixed (s_…, x_…) so that a step called `end` or `start` cannot clash with Mermaid.
        """
        flow = self.flows[flow_id]
        lines = ["flowchart TD", f"    entry(( )) --> s_{flow.start}"]
        outside: set[str] = set()
        for step_id, step in flow.steps.items():
            shape = f'["{step_id}"]' if step.waits else f"[/{step_id}/]"
            lines.append(f"    s_{step_id}{shape}")
            for edge, goto in edges(step):
                target = self.resolve(flow_id, goto)
                if target.flow == flow_id:
                    node = f"s_{target.step}"
                else:
                    node = f"x_{target.flow}__{target.step}"
                    outside.add(f'    {node}(["{target.flow} / {target.step}"])')
                text = label(edge).replace('"', "'")
                lines.append(f'    s_{step_id} -->|"{text}"| {node}')
        return "\n".join([*lines, *sorted(outside)]) + "\n"


def edges(step: StepSpec) -> Iterable[tuple[str, str]]:
    """(label, goto) of every way out of a step."""
    for choice in step.choices:
        if choice.goto:
            yield (choice.label if choice.for_each is None else f"each {choice.for_each}"), choice.goto
    if step.input is not None and step.input.goto:
        yield f"input {step.input.parse}", step.input.goto
    if step.goto:
        yield "then", step.goto
    for outcome, goto in step.outcomes.items():
        yield f"outcome {outcome}", goto
    for name, error in step.errors.items():
        yield f"error {name}", error.goto


def calls(step: StepSpec) -> Iterable[tuple[ActionCall, frozenset[str]]]:
    """Every action a step may run, with the data keys its choice or input sets just before it runs."""
    if step.do is not None:
        yield step.do, frozenset()
    for choice in step.choices:
        if choice.do is not None:
            yield choice.do, frozenset(choice.set)
    if step.input is not None and step.input.do is not None:
        yield step.input.do, frozenset([step.input.save] if step.input.save else [])


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line, with line and column numbers (and no "<unicode string>")."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    parts = []
    for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if text:
            parts.append(f"{text} at line {mark.line + 1}, column {mark.column + 1}" if mark else text)
    return ", ".join(parts)


class _UniqueKeyLoader(yaml.CSafeLoader):
    """A safe loader that refuses a key written twice (two steps of the same name would silently merge)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key!r} is written twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_flows(directory: Path) -> FlowSet:
    """Read every conversations/*.yaml; format problems raise FlowError naming file and step."""
    flows: dict[str, FlowSpec] = {}
    files: dict[str, str] = {}
    problems: list[FlowProblem] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name.startswith("_") or path.stem == "keywords":
            continue
        file = f"{directory.name}/{path.name}"
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except yaml.YAMLError as exc:
            problems.append(FlowProblem(file, None, f"not valid YAML: {_yaml_problem(exc)}"))
            continue
        if not isinstance(raw, dict):
            problems.append(FlowProblem(file, None, "a flow file is a mapping"))
            continue
        try:
            flow = FlowSpec.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                loc = [str(part) for part in error["loc"]]
                step = loc[1] if len(loc) > 1 and loc[0] == "steps" else None
                where = ".".join(loc[2:] if step else loc)
                message = error["msg"].removeprefix("Value error, ")
                problems.append(FlowProblem(file, step, f"{where}: {message}"))
            continue
        if flow.id != path.stem:
            problems.append(FlowProblem(file, None, f"id {flow.id!r} differs from the file name"))
            continue
        flows[flow.id] = flow
        files[flow.id] = file
    if problems:
        raise FlowError(problems)
    return FlowSet(flows, files)
