"""Reading and checking local schedules (idflow/schedules/), cron expressions and zones, the paused rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from idflow.errors import DefinitionError
from idflow.kinds.schedule_normal import comparable_schedule, normalise_schedule, paused_note, schedule_to_send
from idflow.kinds.workflow_starts import WorkflowStart
from idflow.repo.cron import CronProblem, check_cron, check_zone
from idflow.repo.schedule_files import check_schedule_starts, read_schedules

NIGHTLY = """\
# the nightly report, paused until the team turns it on
name: docflow_nightly
description: Ingest the sample document every night
cronExpression: "0 30 2 * * ?"
zoneId: Europe/Berlin
paused: true
startWorkflowRequest:
  name: docflow_ingest
  version: 1
  input:
    title: nightly
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / "idflow" / "schedules" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def read(root: Path, variables: dict | None = None):
    return read_schedules(root / "idflow" / "schedules", variables=variables or {}, root=root)


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        read(root)
    return [str(p) for p in caught.value.problems]


def test_a_schedule_file_in_normal_form(tmp_path: Path) -> None:
    write(tmp_path, "nightly.yaml", NIGHTLY)
    (schedule,) = read(tmp_path)
    assert schedule.name == "docflow_nightly" and schedule.line == 2 and schedule.notes == ()
    assert schedule.definition == {
        "name": "docflow_nightly",
        "description": "Ingest the sample document every night",  # a schedule keeps its description
        "cronExpression": "0 30 2 * * ?",
        "zoneId": "Europe/Berlin",
        "paused": True,
        "runCatchupScheduleInstances": False,
        "cronSchedules": [],
        "startWorkflowRequest": {
            "name": "docflow_ingest", "version": 1, "input": {"title": "nightly"}, "taskToDomain": {}, "priority": 0,
        },
    }  # fmt: skip
    assert schedule.starts == [WorkflowStart("docflow_ingest", 1, "startWorkflowRequest")]
    assert schedule.start_line == 7


def test_the_server_answer_normalises_like_the_file(tmp_path: Path) -> None:
    write(tmp_path, "nightly.yaml", NIGHTLY)
    (schedule,) = read(tmp_path)
    # shaped like conductor-oss 3.32.3's answer for that schedule
    answer = {
        **schedule.definition,
        "createTime": 1796129234406, "updatedTime": 1796129234406, "createdBy": "", "updatedBy": "",
        "startWorkflowRequest": {**schedule.definition["startWorkflowRequest"]},
    }  # fmt: skip
    assert normalise_schedule(answer) == schedule.definition


def test_a_bad_cron_expression_names_the_field_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", NIGHTLY.replace('"0 30 2 * * ?"', '"0 30 25 * * ?"'))
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{path}:4:")
    assert "the hour field '25': 25 is outside 0-23" in problem
    write(tmp_path, "bad.yaml", NIGHTLY.replace('"0 30 2 * * ?"', '"30 2 * * *"'))
    (problem,) = problems_of(tmp_path)
    assert "has 5 (crontab's five-field form needs a seconds field first" in problem


def test_zone_version_name_and_owned_fields(tmp_path: Path) -> None:
    text = (
        "name: s\n"  # 1
        "cronExpression: '@daily'\n"  # 2
        "zoneId: Europe/berlin\n"  # 3
        "scheduleStartTime: 200\n"  # 4
        "scheduleEndTime: 100\n"  # 5
        "cronSchedules:\n"  # 6
        "  - cronExpression: '0 0 0 ? * L'\n"  # 7
        "    zoneId: '+25:00'\n"  # 8
        "startWorkflowRequest:\n"  # 9
        "  name: ''\n"  # 10
        "  priority: 100\n"  # 11
    )
    path = write(tmp_path, "s.yaml", text)
    found = problems_of(tmp_path)
    expected = {
        3: "'Europe/berlin' is not a time zone (an IANA name like 'Europe/Berlin', or 'UTC') (did you mean",
        5: "'scheduleEndTime' must be after 'scheduleStartTime'",
        7: "the day-of-week field 'L': a day of the week must come before 'L'",
        8: "'+25:00' is not an offset Java reads",
        10: "'startWorkflowRequest' needs the 'name' of the workflow it starts",
        11: "'startWorkflowRequest.priority' must be 0-99, not 100",
    }
    for line, message in expected.items():
        assert any(p.startswith(f"{path}:{line}:") and message in p for p in found), (line, message, found)
    assert any("needs the 'version' of the workflow it starts" in p for p in found)
    assert len(found) == len(expected) + 1, found


def test_server_owned_fields_in_a_file_are_notes(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", NIGHTLY + "createTime: 5\nnextRunTime: 7\nmadeUp: 1\n")
    (schedule,) = read(tmp_path)
    notes = sorted((n.line, n.message) for n in schedule.notes)
    assert [line for line, _ in notes] == [12, 13, 14]
    assert "'createTime' is set by the server" in notes[0][1]
    assert "'nextRunTime' is set by the server" in notes[1][1]
    assert "'madeUp' is ignored by the server" in notes[2][1]
    assert "createTime" not in schedule.definition and "madeUp" not in schedule.definition


def test_a_list_and_a_duplicate_are_problems(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", NIGHTLY)
    write(tmp_path, "b.yaml", NIGHTLY)
    (problem,) = problems_of(tmp_path)
    assert "b.yaml:2:" in problem and "'docflow_nightly' is defined twice" in problem
    (tmp_path / "idflow" / "schedules" / "b.yaml").write_text("- " + NIGHTLY.replace("\n", "\n  "))
    (problem,) = problems_of(tmp_path)
    assert "holds one schedule (a mapping), not a list (one schedule per file)" in problem


def test_a_start_of_a_workflow_defined_nowhere(tmp_path: Path) -> None:
    write(tmp_path, "nightly.yaml", NIGHTLY)
    schedules = read(tmp_path)
    assert check_schedule_starts(schedules, {("docflow_ingest", 1)}) == []
    (problem,) = check_schedule_starts(schedules, {("other", 1)})
    assert problem.line == 7
    assert "starts workflow 'docflow_ingest' version 1, which is defined neither locally nor on the server" in (
        problem.message
    )


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("0 60 * * * ?", "minute"),
        ("0 0 0 32 * ?", "day-of-month"),
        ("0 0 0 * 13 ?", "month"),
        ("0 0 0 ? * 8", "day-of-week"),
        ("? 0 0 * * *", "second"),
        ("0 0 0 L3 * ?", "day-of-month"),
        ("0 0 0 ? * 1#0", "day-of-week"),
        ("0 0 0 * JANUARY ?", "month"),
        ("*/0 * * * * *", "second"),
        ("0 10-5 * * * *", "minute"),
    ],
)
def test_bad_cron_fields_are_named(expression: str, field: str) -> None:
    with pytest.raises(CronProblem, match=f"the {field} field"):
        check_cron(expression)


@pytest.mark.parametrize(
    "expression",
    ["0 0 * * * ?", "@hourly", "@Weekly", "0 */5 9-17 * * MON-FRI", "0 0 0 L-3 * ?", "0 0 0 15W * ?",
     "0 0 0 LW * ?", "0 0 0 ? * 5L", "0 0 0 ? * SUN#2", "0 0 0 ? * 7-1", " 0  0 * * * ? "],
)  # fmt: skip
def test_good_cron_expressions(expression: str) -> None:
    check_cron(expression)


@pytest.mark.parametrize("zone", ["UTC", "Z", "GMT", "Europe/Berlin", "America/Argentina/Buenos_Aires", "+02:00",
                                  "-0530", "+5", "UTC+2", "GMT-03:30", "Etc/GMT+1"])  # fmt: skip
def test_good_zones(zone: str) -> None:
    check_zone(zone)


@pytest.mark.parametrize("zone", ["Mars/Base", "europe/berlin", "+19:00", "+2:30", "UTC+", "../etc/passwd", ""])
def test_bad_zones(zone: str) -> None:
    with pytest.raises(CronProblem):
        check_zone(zone)


def test_paused_is_left_to_the_operators_unless_managed() -> None:
    desired = normalise_schedule({"name": "s", "cronExpression": "@daily", "paused": False,
                                  "startWorkflowRequest": {"name": "w", "version": 1}})  # fmt: skip
    on_server = {**desired, "paused": True, "pausedReason": "incident 42"}
    assert comparable_schedule(desired) == comparable_schedule(on_server)  # no difference to plan
    assert comparable_schedule(desired, manage_paused=True) != comparable_schedule(on_server, manage_paused=True)
    changed = {**desired, "cronExpression": "@hourly"}
    body = schedule_to_send(changed, on_server)  # an update of another field keeps the pause
    assert body["paused"] is True and body["pausedReason"] == "incident 42" and body["cronExpression"] == "@hourly"
    assert schedule_to_send(changed, on_server, manage_paused=True)["paused"] is False
    assert "pausedReason" not in schedule_to_send(changed, on_server, manage_paused=True)
    assert schedule_to_send(desired, None) == desired  # a create: the file's paused
    note = paused_note("s", desired, on_server, manage_paused=False)
    assert note is not None and "is paused on the server (incident 42)" in note and "left as it is" in note
    assert paused_note("s", desired, on_server, manage_paused=True) is None
    assert paused_note("s", desired, desired, manage_paused=False) is None
