"""Process definition validation: every fault names its file, line, key path and the remedy.

Faulty definitions are made by small textual edits of the shipped
``definitions/rectification-v1.yaml`` (or by tiny inline documents); each expected line number is
computed from the text the test wrote, so the tests follow the shipped file when it changes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from workflow.clock import SHANGHAI
from workflow.config import PROJECT_ROOT
from workflow.db import Database
from workflow.errors import DefinitionError, DefinitionFault
from workflow.spec.definitions import load_all, load_file
from workflow.spec.durations import Duration, parse_duration
from workflow.spec.machine import CompiledDefinition
from workflow.spec.registry import Registry, load_definitions

SHIPPED = PROJECT_ROOT / "definitions" / "rectification-v1.yaml"
SOURCE = SHIPPED.read_text(encoding="utf-8")
STATES = "assigned, in_progress, acceptance, cleared, follow_up"
ROLES = "office, unit, acceptor, leader, discipline, public"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=SHANGHAI)

# Transition indexes in the shipped file, as they appear in key paths.
START, APPLY, REJECT, CLEAR, FOLLOW_UP, CONSOLIDATE, REBOUND, EXTEND = range(8)


# --- helpers ---------------------------------------------------------------------------------

def edit(text: str, old: str, new: str, *, after: str = "") -> str:
    """Replace the first ``old`` that follows the marker ``after`` (the whole text if empty)."""
    start = text.index(after) if after else 0
    at = text.index(old, start)
    return text[:at] + new + text[at + len(old):]


def line_of(text: str, needle: str, *, last: bool = False) -> int:
    """1-based line of the (first, or last) line containing ``needle``."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert numbers, f"{needle!r} not in the text"
    return numbers[-1] if last else numbers[0]


def write(tmp_path: Path, text: str, name: str = "rectification.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def faults_of(path: Path) -> list[DefinitionFault]:
    with pytest.raises(DefinitionError) as caught:
        load_file(path)
    return caught.value.faults


def only_fault(path: Path) -> DefinitionFault:
    faults = faults_of(path)
    assert len(faults) == 1, "\n".join(map(str, faults))
    return faults[0]


def add_state(text: str, block: str) -> str:
    """Append a state block at the end of ``states:`` (just before ``transitions:``)."""
    return edit(text, "\ntransitions:\n", block + "\ntransitions:\n")


# --- the shipped definition and durations ----------------------------------------------------

def test_the_shipped_definition_loads_clean() -> None:
    # Given the definitions directory of the repository
    # When it is validated
    loaded = load_all(SHIPPED.parent)
    # Then both versions load without a fault, each with the five states
    assert [item.definition.ref for item in loaded] == ["rectification@1", "rectification@2"]
    first, second = (item.definition for item in loaded)
    assert ", ".join(state.key for state in first.states) == STATES
    assert ", ".join(state.key for state in second.states) == STATES
    # @1 clears straight from acceptance; @2 adds the site check, objection and sign-off
    assert len(first.transitions) == 8
    assert [t.trigger for t in second.transitions if t.trigger not in
            {t.trigger for t in first.transitions}] == ["site_check", "object", "sign_off"]
    assert [stage.key for stage in second.state("acceptance").stages] == [
        "applied", "public_notice", "signed_off"]
    assert loaded[0].source == SOURCE


@pytest.mark.parametrize(("text", "expected"), [
    ("7 days", Duration(7, "days")),
    ("15 working days", Duration(15, "working_days")),
    ("48 hours", Duration(48, "hours")),
    ("1 day", Duration(1, "days")),
    ("1 working day", Duration(1, "working_days")),
    ("1 hour", Duration(1, "hours")),
    ("  30 days ", Duration(30, "days")),
], ids=str)
def test_parse_duration_accepts_days_working_days_and_hours(text: str,
                                                            expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3 weeks", "0 days", "-2 days", "2.5 days", "seven days",
                                  "15 workdays", "7", "days", ""])
def test_parse_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected a positive whole number followed by 'days', "
                                         "'working days' or 'hours'"):
        parse_duration(text)


# --- 1. unknown state in a transition --------------------------------------------------------

def test_unknown_target_state_is_reported_on_its_to_key(tmp_path: Path) -> None:
    # Given the reject transition sends the issue to a state that does not exist
    text = edit(SOURCE, "to: in_progress", "to: closed_out", after="trigger: reject")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the fault names the file, the line of that 'to' key, its key path and the states
    assert fault == DefinitionFault(
        str(path), line_of(text, "to: closed_out"), f"transitions[{REJECT}].to",
        f"unknown state 'closed_out'; defined states: {STATES}")


def test_unknown_source_state_is_reported_on_its_from_key(tmp_path: Path) -> None:
    # Given the reject transition leaves from a misspelled state
    text = edit(SOURCE, "from: acceptance", "from: acceptence", after="trigger: reject")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the fault points at that 'from' key
    assert fault == DefinitionFault(
        str(path), line_of(text, "from: acceptence"), f"transitions[{REJECT}].from",
        f"unknown state 'acceptence'; defined states: {STATES}")


def test_unknown_state_in_a_list_of_sources_is_reported_on_its_item(tmp_path: Path) -> None:
    # Given reject leaves from a block list of two states, the second one unknown
    text = edit(SOURCE, "from: acceptance\n",
                "from:\n      - acceptance\n      - acceptnce\n", after="trigger: reject")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the fault points at the list item itself
    assert fault == DefinitionFault(
        str(path), line_of(text, "- acceptnce"), f"transitions[{REJECT}].from[1]",
        f"unknown state 'acceptnce'; defined states: {STATES}")


# --- 2. unreachable state --------------------------------------------------------------------

def test_a_state_no_transition_leads_to_is_unreachable(tmp_path: Path) -> None:
    # Given a terminal state 'archived' that no transition enters
    text = add_state(SOURCE, "  - key: archived\n    label_zh: 已归档\n    label_en: Archived\n"
                             "    terminal: true\n")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the state's key line is reported, naming the initial state it cannot be reached from
    assert fault == DefinitionFault(
        str(path), line_of(text, "- key: archived"), "states[5].key",
        "state 'archived' is unreachable from the initial state 'assigned'")


# --- 3. no way out of a non-terminal state ---------------------------------------------------

def test_a_non_terminal_state_without_outgoing_transitions_is_a_dead_end(
        tmp_path: Path) -> None:
    # Given a state 'suspended' that can be entered but never left, and is not terminal
    text = add_state(SOURCE, "  - key: suspended\n    label_zh: 中止\n    label_en: Suspended\n")
    text += ("  - trigger: suspend\n    label_zh: 中止整改\n    label_en: Suspend\n"
             "    from: in_progress\n    to: suspended\n    roles: [office]\n")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the dead end is reported with both ways to fix it
    assert fault == DefinitionFault(
        str(path), line_of(text, "- key: suspended"), "states[5].key",
        "no way out of non-terminal state 'suspended': add a transition from it or mark it "
        "terminal: true")


def test_a_terminal_state_with_outgoing_transitions_is_refused(tmp_path: Path) -> None:
    # Given follow_up is marked terminal although consolidate and rebound leave it
    text = edit(SOURCE, "    label_en: Follow-up review\n",
                "    label_en: Follow-up review\n    terminal: true\n")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the 'terminal' key of that state is reported
    assert fault == DefinitionFault(
        str(path), line_of(text, "terminal: true"), "states[4].terminal",
        "terminal state 'follow_up' has outgoing transitions; remove them or set terminal: false")


# --- 4. duplicate trigger from one state -----------------------------------------------------

DUPLICATE_REJECT = ("  - trigger: reject\n    label_zh: 直接销号\n    label_en: Clear at once\n"
                    "    from: {source}\n    to: cleared\n    roles: [office]\n")


def test_the_same_trigger_twice_from_one_state_is_refused(tmp_path: Path) -> None:
    # Given a second 'reject' transition leaving 'acceptance', appended as transitions[8]
    text = SOURCE + DUPLICATE_REJECT.format(source="acceptance")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the later one is reported on its trigger line, naming the first definition
    assert fault == DefinitionFault(
        str(path), line_of(text, "- trigger: reject", last=True), "transitions[8].trigger",
        f"trigger 'reject' from state 'acceptance' is already defined by "
        f"transitions[{REJECT}]; a trigger must be unique per source state")


def test_the_same_trigger_from_different_states_is_allowed(tmp_path: Path) -> None:
    # Given a second 'reject' transition that leaves a different state (follow_up)
    path = write(tmp_path, SOURCE + DUPLICATE_REJECT.format(source="follow_up"))
    # When the file is loaded, Then it is valid
    assert len(load_file(path).definition.transitions) == 9


# --- 5. unknown role and 6. unknown checklist ------------------------------------------------

def test_unknown_role_is_reported_on_its_list_item(tmp_path: Path) -> None:
    # Given the clear transition grants a role that is not declared under roles:
    text = edit(SOURCE, "roles: [office]", "roles: [office, inspector]", after="trigger: clear")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the fault names the role's position and the declared roles
    assert fault == DefinitionFault(
        str(path), line_of(text, "roles: [office, inspector]"), f"transitions[{CLEAR}].roles[1]",
        f"unknown role 'inspector'; declared roles: {ROLES}")


def test_unknown_checklist_is_reported_with_the_declared_ones(tmp_path: Path) -> None:
    # Given the clear transition requires a misspelled checklist
    text = edit(SOURCE, "checklist: five_never", "checklist: five_nevers")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the fault points at requires.checklist and lists the declared checklists
    assert fault == DefinitionFault(
        str(path), line_of(text, "checklist: five_nevers"),
        f"transitions[{CLEAR}].requires.checklist",
        "unknown checklist 'five_nevers'; declared checklists: five_never")


TINY = """\
id: tiny
version: 1
label_zh: 小流程
label_en: Tiny process
initial: open
roles:
  office: {label_zh: 整改办, label_en: Office}
states:
  - {key: open, label_zh: 开, label_en: Open}
  - {key: closed, label_zh: 关, label_en: Closed, terminal: true}
transitions:
  - trigger: close
    label_zh: 关闭
    label_en: Close
    from: open
    to: closed
    roles: [office]
"""


def test_a_minimal_inline_definition_is_valid(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, TINY, "tiny.yaml")).definition.ref == "tiny@1"


def test_a_checklist_required_where_none_is_declared(tmp_path: Path) -> None:
    # Given a definition without checklists: whose transition requires one
    text = TINY + "    requires: {checklist: five_never}\n"
    path = write(tmp_path, text, "tiny.yaml")
    # When the file is loaded
    fault = only_fault(path)
    # Then the message says that none are declared
    assert fault == DefinitionFault(
        str(path), line_of(text, "requires: {checklist"), "transitions[0].requires.checklist",
        "unknown checklist 'five_never'; declared checklists: none declared")


def test_a_field_that_sets_the_deadline_must_be_a_date(tmp_path: Path) -> None:
    # Given rebound's new_deadline field is declared as a number but still sets the deadline
    text = edit(SOURCE, "type: date", "type: number")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the field is reported
    assert fault.key.startswith(f"transitions[{REBOUND}].requires.fields.new_deadline")


# --- 7. bad duration -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["3 weeks", "0 days", "15 workdays", "two days"])
def test_a_bad_state_deadline_names_the_allowed_forms(tmp_path: Path, bad: str) -> None:
    # Given the first state's deadline is not a valid duration
    text = edit(SOURCE, "deadline: 3 working days", f"deadline: {bad}")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the deadline key is reported with every accepted form, 'issue' included
    assert (fault.file, fault.line, fault.key) == (
        str(path), line_of(text, f"deadline: {bad}"), "states[0].deadline")
    assert fault.message == (
        f"bad duration '{bad}': expected a positive whole number followed by 'days', "
        "'working days' or 'hours' (e.g. '7 days', '15 working days'), or 'issue' for the "
        "issue's own deadline")


@pytest.mark.parametrize(("bad", "message"), [
    ("[6 weeks]", "bad look-back mark '6 weeks': expected a positive whole number of months, "
                  "e.g. '6 months'"),
    ("[12 months, 6 months]", "look-back marks must be listed in strictly growing order"),
])
def test_a_bad_lookback_mark_says_what_is_allowed(tmp_path: Path, bad: str,
                                                  message: str) -> None:
    # Given the cleared state's look-back marks are not whole months in growing order
    text = edit(SOURCE, "lookback_after: [6 months, 12 months]", f"lookback_after: {bad}")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the key is reported on its line with the form it needs
    assert (fault.line, fault.key) == (line_of(text, f"lookback_after: {bad}"),
                                       "states[3].lookback_after")
    assert fault.message == message


# --- 8. duplicate id+version -----------------------------------------------------------------

def test_two_files_with_the_same_id_and_version_in_one_directory(tmp_path: Path) -> None:
    # Given a directory holding the shipped file and an edited copy that kept version 1
    first = write(tmp_path, SOURCE, "a-rectification.yaml")
    copy = "# edited copy\n" + edit(SOURCE, "deadline: 30 days", "deadline: 20 days")
    second = write(tmp_path, copy, "b-rectification.yaml")
    # When the directory is loaded
    with pytest.raises(DefinitionError) as caught:
        load_all(tmp_path)
    # Then the second file's version line is reported, naming the first file
    assert caught.value.faults == [DefinitionFault(
        str(second), line_of(copy, "version: 1"), "version",
        f"duplicate id+version rectification@1: already defined in {first}; give this file "
        "a new version number")]


def test_two_versions_of_one_id_in_one_directory_are_fine(tmp_path: Path) -> None:
    write(tmp_path, SOURCE, "a-rectification.yaml")
    write(tmp_path, edit(SOURCE, "version: 1", "version: 2"), "b-rectification.yaml")
    refs = [item.definition.ref for item in load_all(tmp_path)]
    assert refs == ["rectification@1", "rectification@2"]


def test_a_changed_definition_cannot_be_reloaded_under_the_same_version(
        db: Database, tmp_path: Path) -> None:
    # Given rectification@1 is loaded into the database from the shipped file
    [first] = load_definitions(db, load_all(SHIPPED), now=NOW, by=None)
    assert first.status == "loaded"
    # And reloading the identical text is a no-op
    [again] = load_definitions(db, load_all(SHIPPED), now=NOW, by=None)
    assert again.status == "unchanged"
    # When an edited file that kept "version: 1" is loaded
    changed = "# 20 days only\n" + edit(SOURCE, "deadline: 30 days", "deadline: 20 days")
    path = write(tmp_path, changed)
    with pytest.raises(DefinitionError) as caught:
        load_definitions(db, load_all(path), now=NOW, by=None)
    # Then it is refused on its version line, naming where and when the stored one came from
    assert caught.value.faults == [DefinitionFault(
        str(path), line_of(changed, "version: 1"), "version",
        f"duplicate id+version rectification@1: a different rectification@1 was loaded on "
        f"2026-01-05 from {SHIPPED}; running issues depend on it, so give this file a new "
        "version number")]


def test_a_refused_load_stores_nothing_of_its_batch(db: Database, tmp_path: Path) -> None:
    # Given rectification@1 is loaded
    load_definitions(db, load_all(SHIPPED), now=NOW, by=None)
    # When a batch holds a new version 2 and a changed version 1
    write(tmp_path, edit(SOURCE, "version: 1", "version: 2"), "a-v2.yaml")
    write(tmp_path, edit(SOURCE, "deadline: 30 days", "deadline: 20 days"), "b-v1.yaml")
    with pytest.raises(DefinitionError, match="duplicate id\\+version rectification@1"):
        load_definitions(db, load_all(tmp_path), now=NOW, by=None)
    # Then version 2 was not stored either (all or nothing)
    assert Registry(db).latest_version("rectification") == 1


# --- 9. unknown initial state ----------------------------------------------------------------

def test_unknown_initial_state(tmp_path: Path) -> None:
    # Given the initial state is misspelled
    text = edit(SOURCE, "initial: assigned", "initial: asigned")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then only the initial key is reported (reachability is not judged from an unknown start)
    assert fault == DefinitionFault(
        str(path), line_of(text, "initial: asigned"), "initial",
        f"unknown state 'asigned'; defined states: {STATES}")


# --- schema faults: missing keys, unknown keys, YAML syntax ----------------------------------

def test_a_missing_key_inside_a_transition_is_reported_on_that_transition(
        tmp_path: Path) -> None:
    # Given the start transition has no 'to'
    text = edit(SOURCE, "    to: in_progress\n", "", after="trigger: start")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the missing key path is named, on the line where that transition begins
    assert fault == DefinitionFault(str(path), line_of(text, "- trigger: start"),
                                    f"transitions[{START}].to", "required key is missing")


def test_a_missing_top_level_key_is_reported_where_the_document_begins(
        tmp_path: Path) -> None:
    # Given the definition has no 'initial'
    text = edit(SOURCE, "initial: assigned\n", "")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then 'initial' is named, on the first line of the document's mapping
    assert fault == DefinitionFault(str(path), line_of(text, "id: rectification"), "initial",
                                    "required key is missing")


@pytest.mark.parametrize(("after", "inserted", "key", "allowed"), [
    ("    label_en: Cleared\n", "    terminl: true\n", "states[3].terminl",
     "label_zh, label_en, key, terminal, completed, deadline, escalate, lookback_after, "
     "stages, deadline_label_zh, deadline_label_en, remind"),
    ("      comment: true\n", "      evidense: 2\n", f"transitions[{APPLY}].requires.evidense",
     "comment, evidence, checklist, fields, subtasks_done"),
    ("initial: assigned\n", "initail: assigned\n", "initail",
     "label_zh, label_en, id, version, initial, roles, checklists, states, transitions, "
     "notices"),
], ids=["in-a-state", "in-requires", "top-level"])
def test_a_misspelled_key_is_reported_as_unknown(tmp_path: Path, after: str, inserted: str,
                                                 key: str, allowed: str) -> None:
    # Given a key nobody defines, inserted where a real key was meant
    text = edit(SOURCE, after, after + inserted)
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then it is reported on its own line with the keys allowed there
    assert fault == DefinitionFault(
        str(path), line_of(text, inserted.strip()), key,
        f"unknown key; allowed keys here: {allowed}")


def test_invalid_yaml_syntax_reports_the_line(tmp_path: Path) -> None:
    # Given an unquoted value containing ': ' (a classic YAML mistake)
    text = edit(SOURCE, "label_en: Assigned\n", "label_en: Note: assigned\n")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the line of the mistake is reported, with the parser's explanation
    assert (fault.file, fault.line, fault.key) == (str(path), line_of(text, "Note: assigned"), "")
    assert fault.message.startswith("not valid YAML: mapping values are not allowed here")
    assert str(fault).startswith(f"{path}:{fault.line}: not valid YAML: ")


def test_a_key_repeated_in_one_mapping_is_refused(tmp_path: Path) -> None:
    # Given the acceptance state has its deadline twice
    text = edit(SOURCE, "    deadline: 30 days\n", "    deadline: 30 days\n    deadline: 60 days\n")
    path = write(tmp_path, text)
    # When the file is loaded
    fault = only_fault(path)
    # Then the second one is reported
    assert (fault.line, fault.key) == (line_of(text, "deadline: 60 days"), "states[2].deadline")


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n", "list.yaml")
    assert only_fault(path) == DefinitionFault(
        str(path), 1, "", "expected a mapping at the top level (id, version, states, "
                          "transitions, ...)")


# --- several faults at once ------------------------------------------------------------------

def test_a_file_with_several_graph_faults_reports_all_of_them(tmp_path: Path) -> None:
    # Given five different graph faults in one file
    text = edit(SOURCE, "to: in_progress", "to: closed_out", after="trigger: reject")
    text = edit(text, "roles: [office]", "roles: [office, inspector]", after="trigger: clear")
    text = edit(text, "checklist: five_never", "checklist: five_nevers")
    text = edit(text, "    label_en: Follow-up review\n",
                "    label_en: Follow-up review\n    terminal: true\n")
    text += DUPLICATE_REJECT.format(source="acceptance")
    path = write(tmp_path, text)
    # When the file is loaded
    faults = faults_of(path)
    # Then every one of them is reported, each on its own line and key
    assert sorted((f.line, f.key) for f in faults) == [
        (line_of(text, "terminal: true"), "states[4].terminal"),
        (line_of(text, "to: closed_out"), f"transitions[{REJECT}].to"),
        (line_of(text, "roles: [office, inspector]"), f"transitions[{CLEAR}].roles[1]"),
        (line_of(text, "checklist: five_nevers"), f"transitions[{CLEAR}].requires.checklist"),
        (line_of(text, "- trigger: reject", last=True), "transitions[8].trigger"),
    ]
    assert {f.file for f in faults} == {str(path)}


def test_a_file_with_several_schema_faults_reports_all_of_them(tmp_path: Path) -> None:
    # Given two bad durations, a misspelled key and a missing key in one file
    text = edit(SOURCE, "deadline: 3 working days", "deadline: 3 weeks")
    text = edit(text, "deadline: 30 days", "deadline: 0 days")
    text = edit(text, "    label_en: Cleared\n", "    label_en: Cleared\n    terminl: true\n")
    text = edit(text, "    roles: [office]\n", "", after="trigger: start_follow_up")
    path = write(tmp_path, text)
    # When the file is loaded
    faults = faults_of(path)
    # Then all four are reported
    assert sorted((f.line, f.key) for f in faults) == [
        (line_of(text, "deadline: 3 weeks"), "states[0].deadline"),
        (line_of(text, "deadline: 0 days"), "states[2].deadline"),
        (line_of(text, "terminl: true"), "states[3].terminl"),
        (line_of(text, "- trigger: start_follow_up"), f"transitions[{FOLLOW_UP}].roles"),
    ]


def test_a_file_with_schema_and_graph_faults_reports_both(tmp_path: Path) -> None:
    # Given a bad duration (schema) and an unknown target state (graph) in one file
    text = edit(SOURCE, "deadline: 30 days", "deadline: 3 weeks")
    text = edit(text, "to: in_progress", "to: closed_out", after="trigger: reject")
    path = write(tmp_path, text)
    # When the file is loaded
    faults = faults_of(path)
    # Then both are reported
    assert sorted(f.key for f in faults) == ["states[2].deadline", f"transitions[{REJECT}].to"]


def test_a_directory_reports_the_faults_of_every_file(tmp_path: Path) -> None:
    # Given two faulty files in one directory
    one = write(tmp_path, edit(SOURCE, "initial: assigned", "initial: asigned"), "one.yaml")
    two = write(tmp_path, edit(TINY, "roles: [office]", "roles: [ofice]"), "two.yaml")
    # When the directory is loaded
    with pytest.raises(DefinitionError) as caught:
        load_all(tmp_path)
    # Then the faults of both files are reported
    assert [(f.file, f.key) for f in caught.value.faults] == [
        (str(one), "initial"), (str(two), "transitions[0].roles[0]")]


def test_a_fault_prints_as_file_line_key_message(tmp_path: Path) -> None:
    # Given a file with an unknown initial state
    text = edit(SOURCE, "initial: assigned", "initial: asigned")
    path = write(tmp_path, text)
    # When its fault is rendered as text (what `rectify definitions check` prints)
    fault = only_fault(path)
    # Then it reads FILE:LINE: KEY: MESSAGE
    assert str(fault) == (f"{path}:{line_of(text, 'initial: asigned')}: initial: unknown state "
                          f"'asigned'; defined states: {STATES}")


def test_a_state_names_its_deadline_and_who_is_reminded_of_it(tmp_path: Path) -> None:
    # Given the acceptance state naming its window 验收时限 and reminding the acceptance unit
    # and the office
    text = edit(SOURCE, "    deadline: 30 days\n", "    deadline: 30 days\n"
                "    deadline_label_zh: 验收时限\n    deadline_label_en: Acceptance window\n"
                "    remind: [acceptor, office]\n", after="key: acceptance")
    # When it is loaded
    words = CompiledDefinition(load_file(write(tmp_path, text)).definition).words
    # Then the state says so, and the states without the keys keep their defaults
    assert (words["acceptance"].label_zh, words["acceptance"].remind) == (
        "验收时限", ("acceptor", "office"))
    assert (words["assigned"].label_zh, words["assigned"].remind,
            words["assigned"].unit) == ("开始整改时限", ("unit",), "working_days")
    assert (words["in_progress"].label_zh, words["in_progress"].remind) == ("整改时限", ("unit",))


@pytest.mark.parametrize(("state", "anchor", "inserted", "message"), [
    ("acceptance", "    deadline: 30 days\n", "    remind: [discipline]\n",
     "Input should be 'unit', 'acceptor', 'leader' or 'office'"),
    ("acceptance", "    deadline: 30 days\n", "    remind: []\n",
     "List should have at least 1 item"),
    ("cleared", "    completed: true\n", "    deadline_label_zh: 销号时限\n",
     "deadline_label_zh given but the state has no deadline; add 'deadline'"),
    ("follow_up", "    completed: true\n", "    remind: [unit]\n",
     "remind given but a completed or terminal state sends no reminders; remove them"),
], ids=["unknown-recipient", "no-recipient", "label-without-deadline", "completed-state"])
def test_bad_reminder_keys_of_a_state_say_what_is_allowed(
        tmp_path: Path, state: str, anchor: str, inserted: str, message: str) -> None:
    # Given a state with a reminder key that cannot apply
    text = edit(SOURCE, anchor, anchor + inserted, after=f"key: {state}")
    # When the file is loaded, then the one fault names the state and what is allowed
    fault = only_fault(write(tmp_path, text))
    assert fault.key.startswith("states[") and message in fault.message
