"""The flow validator: every broken case in tests/flow_fixtures/ gives its exact message; the real flows pass.

Each case folder holds a `conversations/` folder with a minimal set of flow files (onboarding and menu are
required), using only templates, labels and actions that exist, so that only the intended problem shows.
A minimal set is checked without the code's entry points, unless its case names made-up ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.conversation.context import ACTIONS, PARSERS, Argument
from relai_bot.conversation.engine import Engine
from relai_bot.conversation.flow_checks import validate
from relai_bot.conversation.flow_docs import DOCS_COMMAND
from relai_bot.conversation.flows import FlowError, FlowSet, load_flows
from relai_bot.conversation.render import Renderer
from relai_bot.entry_points import REMINDER, EntryPoint
from relai_bot.testing.driver import Driver
from tests.paths import REPO

FIXTURES = Path(__file__).with_name("flow_fixtures")
MENU = "conversations/menu.yaml"

# case folder -> the problems the validator reports, word for word
CASES: dict[str, list[str]] = {
    "goto_nowhere": [f"{MENU}, step home: common.yes goto 'nowhere' leads nowhere"],
    "goto_unknown_flow": [f"{MENU}, step home: common.yes goto 'flow:nowhere': no such flow"],
    "unreachable_step": [f"{MENU}, step orphan: unreachable step"],
    "missing_template": [f"{MENU}, step home: template 'common/no_such_template' does not exist"],
    "missing_label": [f"{MENU}, step home: label 'common.no_such_label' does not exist"],
    "unregistered_action": [f"{MENU}, step home: action 'no_such_action' is not registered"],
    "unregistered_parser": [f"{MENU}, step home: parser 'no_such_parser' is not registered"],
    "dead_end": [f"{MENU}, step stuck: dead end: the step has no choices, no input and no goto"],
    "unsupported_spec": [f"{MENU}: spec: unsupported flow format version 2 (this program reads version 1)"],
    "id_mismatch": [f"{MENU}: id 'main_menu' differs from the file name"],
    "invalid_yaml": [
        f"{MENU}: not valid YAML: while parsing a flow sequence at line 8, column 14, "
        "did not find expected ',' or ']' at line 9, column 1"
    ],
    "missing_menu": ["conversations/: the flow 'menu' is missing"],
    "duplicate_choice_key": [f"{MENU}, step home: two choices share a key"],
    "unknown_error": [f"{MENU}, step home: error 'NoSuchError' is not a domain error"],
    "unknown_step_field": [f"{MENU}, step home: colour: Extra inputs are not permitted"],
    "duplicate_step": [f"{MENU}: not valid YAML: 'home' is written twice at line 10, column 3"],
    # -- uses of actions against their declarations
    "unreturned_outcome": [
        f"{MENU}, step home: outcome 'nope' is not returned by action 'free_slots' (it returns: none)"
    ],
    "for_each_not_provided": [
        f"{MENU}, step home: for_each 'slot' is not provided by action 'free_slots' (it provides: slots)"
    ],
    "bad_arguments": [
        f"{MENU}, step home: action 'set_opportunities': argument 'wanted' expects bool, got 'oui'",
        f"{MENU}, step home: action 'set_opportunities' takes no argument 'loud' (it takes: wanted)",
        f"{MENU}, step home: action 'set_opportunities' needs the argument 'wanted' (bool)",
    ],
    "missing_data_key": [
        f"{MENU}, step confirm: missing data key 'slot_id': action 'chosen_slot' reads it, "
        "and no choice `set`, input `save`, action or entry point writes it"
    ],
    # -- entry points the code relies on (made-up ones, see ENTRY_POINTS)
    "broken_entry_points": [
        "conversations/: entry point NO_FLOW: the flow 'reminder' is missing",
        f"{MENU}: entry point NO_STEP: no step 'nowhere'",
        f"{MENU}, step detail: entry point NO_DATA does not hand over data 'appointment_id', "
        "which action 'appointment_detail' reads",
    ],
}

# case folder -> the entry points it is checked against (none for the others)
ENTRY_POINTS: dict[str, Mapping[str, EntryPoint]] = {
    "broken_entry_points": {
        "NO_FLOW": REMINDER,
        "NO_STEP": EntryPoint("menu", "nowhere"),
        "NO_DATA": EntryPoint("menu", "detail"),
        "FINE": EntryPoint("menu", "detail", data=("appointment_id",)),
    }
}

# The CLI checks the code's entry points, as start-up does: a minimal set of flows lacks most of them
ABSENT_ENTRY_POINTS = [
    "conversations/: entry point REMINDER: the flow 'reminder' is missing",
    "conversations/: entry point WAITLIST_OFFER: the flow 'waitlist_offer' is missing",
    "conversations/: entry point MY_APPOINTMENTS: the flow 'my_appointments' is missing",
    "conversations/: entry point NOTICE_SERVICE_CANCELLED: the flow 'appointment_notice' is missing",
    "conversations/: entry point NOTICE_MOVED: the flow 'appointment_notice' is missing",
    "conversations/: entry point NOTICE_NO_SHOW: the flow 'appointment_notice' is missing",
    "conversations/: entry point BOOKING: the flow 'booking' is missing",
    "conversations/: entry point CALLBACK: the flow 'callback' is missing",
    "conversations/: entry point FIND_SCHEME: the flow 'find_scheme' is missing",
    "conversations/: entry point SEARCH_SCHEMES: the flow 'find_scheme' is missing",
    "conversations/: entry point CONFIRM_STOP: the flow 'account' is missing",
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(REPO / "templates", ZoneInfo("Indian/Reunion"))


def load_and_validate(
    conversations: Path, renderer: Renderer, entry_points: Mapping[str, EntryPoint] | None = None
) -> FlowSet:
    """Load and validate, against the code's entry points unless others (or none: {}) are given."""
    flows = load_flows(conversations)
    checks = Engine.checks(renderer)
    validate(flows, checks if entry_points is None else replace(checks, entry_points=entry_points))
    return flows


def content_dir(tmp_path: Path, case: str) -> Path:
    """A content folder for RELAI_CONTENT_DIR: the real templates and a case's conversations."""
    root = tmp_path / "content"
    root.mkdir()
    (root / "templates").symlink_to(REPO / "templates", target_is_directory=True)
    (root / "conversations").symlink_to(FIXTURES / case / "conversations", target_is_directory=True)
    return root


def test_every_fixture_folder_is_a_case() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == {*CASES, "valid"}


def test_the_minimal_fixture_flows_are_valid(renderer: Renderer) -> None:
    flows = load_and_validate(FIXTURES / "valid" / "conversations", renderer, {})
    assert set(flows.flows) == {"onboarding", "menu"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_flow_is_reported_with_file_step_and_problem(case: str, renderer: Renderer) -> None:
    with pytest.raises(FlowError) as caught:
        load_and_validate(FIXTURES / case / "conversations", renderer, ENTRY_POINTS.get(case, {}))
    assert [str(problem) for problem in caught.value.problems] == CASES[case]
    assert str(caught.value) == "\n".join(CASES[case])


def test_the_real_flows_are_valid(renderer: Renderer) -> None:
    flows = load_and_validate(REPO / "conversations", renderer)
    assert {"onboarding", "menu", "booking"} <= set(flows.flows)


# -- relai-bot flows validate / graph ---------------------------------------------------------------------
def test_cli_validate_accepts_the_real_flows() -> None:
    result = CliRunner().invoke(app, ["flows", "validate"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        r"\d+ flows, \d+ steps: valid\n(\w+: \d+ texts, \d+ labels, \d+ keyword groups: complete\n)+", result.stdout
    )


@pytest.mark.parametrize(
    ("case", "more"),
    [
        ("goto_nowhere", ABSENT_ENTRY_POINTS),
        ("invalid_yaml", []),  # nothing is checked in files that cannot be read
        ("missing_menu", ABSENT_ENTRY_POINTS),
    ],
)
def test_cli_validate_prints_the_problems_and_exits_1(case: str, more: list[str], tmp_path: Path) -> None:
    env = {"RELAI_CONTENT_DIR": str(content_dir(tmp_path, case))}
    result = CliRunner().invoke(app, ["flows", "validate"], env=env)
    assert result.exit_code == 1
    assert result.stderr == "\n".join([*CASES[case], *more]) + "\n"
    assert result.stdout == ""


def booking_steps() -> list[str]:
    spec = yaml.safe_load((REPO / "conversations" / "booking.yaml").read_text(encoding="utf-8"))
    return list(spec["steps"])


def test_cli_graph_prints_a_mermaid_flowchart_of_every_step() -> None:
    result = CliRunner().invoke(app, ["flows", "graph", "booking"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flowchart TD\n")
    declared = set(re.findall(r"^    s_(\w+)(?:\[\"|\[/)", result.stdout, flags=re.MULTILINE))
    assert declared == set(booking_steps())


def test_graph_node_ids_cannot_clash_with_mermaid_keywords(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    folder.mkdir()
    for name in ("onboarding.yaml", "menu.yaml"):
        (folder / name).write_text((FIXTURES / "valid" / "conversations" / name).read_text())
    menu = folder / "menu.yaml"
    menu.write_text(
        menu.read_text().replace("goto: home}", "goto: end}") + "  end:\n    say: common/choose\n    goto: home\n"
    )
    graph = load_flows(folder).mermaid("menu")
    assert "s_end" in graph and "\n    end" not in graph


def test_cli_graph_of_an_unknown_flow_exits_2() -> None:
    result = CliRunner().invoke(app, ["flows", "graph", "no_such_flow"])
    assert result.exit_code == 2
    assert "no flow 'no_such_flow'" in result.stderr
    assert "booking" in result.stderr  # the flows that exist are listed
    assert result.stdout == ""


def test_cli_graph_of_invalid_flows_reports_instead_of_crashing(tmp_path: Path) -> None:
    env = {"RELAI_CONTENT_DIR": str(content_dir(tmp_path, "goto_unknown_flow"))}
    result = CliRunner().invoke(app, ["flows", "graph", "menu"], env=env)
    assert result.exit_code == 1
    assert result.stderr == "\n".join([*CASES["goto_unknown_flow"], *ABSENT_ENTRY_POINTS]) + "\n"


# -- docs/flows.md ----------------------------------------------------------------------------------------
def test_docs_flows_md_is_generated_from_the_flows_and_declarations() -> None:
    result = CliRunner().invoke(app, ["flows", "docs"])
    assert result.exit_code == 0, result.output
    assert "| `set_opportunities` | `wanted: bool` |" in result.stdout
    written = (REPO / "docs" / "flows.md").read_text(encoding="utf-8")
    assert written == result.stdout, f"docs/flows.md is out of date: regenerate it with `{DOCS_COMMAND}`"


# -- declarations ---------------------------------------------------------------------------------------
def test_an_actions_arguments_come_from_its_signature() -> None:
    assert ACTIONS["set_opportunities"].takes == (Argument("wanted", bool, required=True),)
    assert ACTIONS["book"].takes == ()
    field = ACTIONS["save_profile"].takes[0]
    assert field.accepts("situation") and not field.accepts("goal") and field.accepts("{{ data.field }}")


def test_a_parsers_error_templates_must_exist(renderer: Renderer) -> None:
    checks = Engine.checks(renderer)
    search = replace(PARSERS["search"], errors=("common/no_such_template",))
    flows = load_flows(REPO / "conversations")
    with pytest.raises(FlowError) as caught:
        validate(flows, replace(checks, parsers={**PARSERS, "search": search}))
    problems = {problem.problem for problem in caught.value.problems}
    assert problems == {"template 'common/no_such_template' of parser 'search' does not exist"}
    assert ("conversations/menu.yaml", "home") in {(p.file, p.step) for p in caught.value.problems}


def test_an_entry_point_hands_over_exactly_its_declared_data() -> None:
    assert REMINDER.target(appointment_id=7) == ("reminder", "remind", {"appointment_id": 7})
    with pytest.raises(ValueError, match="takes data"):
        REMINDER.target(appointment=7)


async def test_in_strict_mode_an_undeclared_outcome_raises(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = await driver.onboarded()
    monkeypatch.setitem(ACTIONS, "list_appointments", replace(ACTIONS["list_appointments"], outcomes=()))
    with pytest.raises(RuntimeError, match="action 'list_appointments' returned the undeclared outcome 'none'"):
        await chat.tap("Mes rendez-vous")


async def test_in_strict_mode_an_undeclared_variable_raises(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = await driver.onboarded()
    monkeypatch.setitem(ACTIONS, "list_appointments", replace(ACTIONS["list_appointments"], provides=()))
    with pytest.raises(RuntimeError, match=r"action 'list_appointments' set ctx.vars \['appointments'\]"):
        await chat.tap("Mes rendez-vous")
