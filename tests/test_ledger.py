"""The ledger (台账): import all or nothing with every bad row named, re-import by 序号,
export and round trip, the progress report's counts and the report commands."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from tests.support import OFFICE, TEST_KEYS, UNIT
from workflow.clock import FrozenClock, local
from workflow.db import Database
from workflow.documents.figures import progress_report
from workflow.documents.ledger_export import export_ledger
from workflow.documents.ledger_import import LedgerError, import_ledger
from workflow.documents.ledger_read import ISSUE_COLUMNS, parse_date
from workflow.errors import ActionDeniedError, InputError
from workflow.issues.checkpoints import latest_checkpoint, write_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.issues.keys import TrustFiles, create_signing_key
from workflow.issues.queries import cleared_dates
from workflow.issues.verification import verify
from workflow.migrate import upgrade
from workflow.models import (
    AccountabilityRecord,
    Issue,
    IssueEvent,
    Person,
    Plan,
    Timer,
    Unit,
)
from workflow.org.ranks import RANKS, rank_key
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "huaibei-2019" / "ledger.xlsx"
PLAN = "淮北市整改方案"
HEADER = [c.label for c in ISSUE_COLUMNS[:13]]
ACCOUNTABILITY_HEADER = ["问责对象", "对象类型", "所在单位", "职级", "问责方式", "关联问题序号",
                         "决定机关", "决定日期", "是否公开"]


def good_rows(count: int = 3) -> list[list[Any]]:
    states = ["整改中", "已销号", "待验收", "已交办"]
    return [[n, "大气污染防治", f"问题{n}", "达标", "整治", "王建国", "市生态环境局",
             "相山区、杜集区", "市住建局", "市生态环境局", "2026年底", f"进展{n}",
             states[(n - 1) % len(states)]] for n in range(1, count + 1)]


def write_book(path: Path, rows: list[list[Any]], *, header: list[str] | None = None,
               sheet: str = "整改情况清单",
               accountability: list[list[Any]] | None = None) -> Path:
    book = Workbook()
    first = book.active
    first.title = sheet
    first.append(header or HEADER)
    for row in rows:
        first.append(row)
    if accountability is not None:
        second = book.create_sheet("问责情况")
        second.append(ACCOUNTABILITY_HEADER)
        for row in accountability:
            second.append(row)
    book.save(path)
    return path


def snapshot(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Issue, IssueEvent, Timer, Unit, Person, Plan,
                              AccountabilityRecord)}


def sample_counts() -> dict[str, Any]:
    """What the sample workbook holds, read straight from it."""
    book = load_workbook(SAMPLE, read_only=True)
    rows = list(book["整改情况清单"].iter_rows(min_row=2, values_only=True))
    people = list(book["问责情况"].iter_rows(min_row=2, values_only=True))
    book.close()
    return {"rows": len(rows), "states": Counter(r[12] for r in rows),
            "categories": Counter(r[1] for r in rows),
            "leaders": {r[5] for r in rows},
            "organizations": sum(1 for p in people if p[1] == "党组织"),
            "cadres": Counter(rank_key(p[3]) for p in people if p[1] == "领导干部")}


def other_engine(tmp_path: Path, clock: FrozenClock) -> Engine:
    db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(db)
    load_definitions(db, load_all(ROOT / "definitions"), now=clock.now(), by=None)
    return Engine(db, EvidenceStore(tmp_path / "other-evidence"), keys=TEST_KEYS, clock=clock)


def test_sample_import_gives_the_counts_the_sample_holds(engine: Engine) -> None:
    # When the office imports the sample ledger of 68 rows
    result = import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)

    # Then every row is an issue in the state its 整改状态 names, with an import event
    expected = sample_counts()
    assert (result.rows, result.created) == (expected["rows"], expected["rows"])
    assert result.plan_created
    report = progress_report(engine, plan=PLAN).as_dict()
    labels = {"已销号": "cleared", "整改中": "in_progress"}
    assert report["total"] == expected["rows"]
    assert report["by_state"] == {labels[k]: v for k, v in expected["states"].items()}
    assert report["cleared"] == expected["states"]["已销号"]
    assert report["in_progress"] == expected["rows"] - expected["states"]["已销号"]
    assert {k: v["total"] for k, v in report["by_category"].items()} == \
        dict(expected["categories"])
    assert set(report["by_leader"]) == expected["leaders"]
    # And the accountability sheet's organisations and cadres by rank
    assert report["accountability"] == {
        "organizations": expected["organizations"], "cadres": sum(expected["cadres"].values()),
        "by_rank": {rank: expected["cadres"][rank] for rank in RANKS
                    if expected["cadres"][rank]}}
    assert f"{expected['rows']}个整改任务，已完成整改{expected['states']['已销号']}个" in \
        report["summary_zh"]
    assert report["accountability_zh"].startswith(
        f"对{expected['organizations']}个党组织和{sum(expected['cadres'].values())}名领导干部")
    # And the histories are intact, leaders and units registered, the importer too
    assert verify(engine).ok
    with engine.db.session() as session:
        names = set(session.scalars(select(Person.name)))
        assert expected["leaders"] | {OFFICE.name} <= names
        events = session.scalars(select(IssueEvent).where(IssueEvent.seq == 1)).all()
    assert {e.trigger for e in events} == {"import"}
    assert all(e.payload["source"] == "ledger.xlsx" and e.payload["row"] >= 2 for e in events)


def test_export_then_reimport_round_trips_every_field(engine: Engine, clock: FrozenClock,
                                                      tmp_path: Path) -> None:
    # Given the sample imported, and one issue cleared through the engine (its date recorded)
    import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)
    # And a checkpoint of the history just signed, which the export names
    files = TrustFiles.for_database(engine.db.url)
    create_signing_key(files)
    made = write_checkpoint(engine.db, files, clock.now())
    exported = tmp_path / "台账.xlsx"
    assert export_ledger(engine, exported, checkpoint=latest_checkpoint(files),
                         plan=PLAN) == sample_counts()["rows"]
    book = load_workbook(exported, read_only=True)
    [line, labels, values] = list(book["历史存证"].iter_rows(values_only=True))
    book.close()
    assert line[0] == (f"历史存证 #1：{local(made.at):%Y-%m-%d %H:%M} 签名，摘要 {made.root[:16]}"
                       f"（{made.issues}个问题，{made.events}条记录）。")
    assert dict(zip(labels, values, strict=True))["默克尔根"] == made.root

    # When the export is imported into another database (read by a child process, as a
    # large file would be)
    other = other_engine(tmp_path, clock)
    result = import_ledger(other, exported, plan=PLAN, actor=OFFICE, parallel=True)
    assert result.created == sample_counts()["rows"]
    assert set(result.ignored_columns) == set()

    # Then every field of every issue, and every accountability record, is the same
    def fields(target: Engine) -> dict[str, tuple[Any, ...]]:
        with target.db.session() as session:
            issues = list(session.scalars(select(Issue).where(Issue.plan == PLAN)))
        cleared = cleared_dates(target.db, target.registry, issues)
        return {i.number: (i.category, i.title, i.target, i.measures, i.leader, i.lead_unit,
                           i.unit, list(i.responsible_units), list(i.cooperating_units),
                           i.acceptance_unit, i.deadline_at, i.long_term, i.progress_note,
                           i.state, cleared.get(i.id)) for i in issues}

    def records(target: Engine) -> list[tuple[Any, ...]]:
        from workflow.supervision.accountability import records as all_records

        with target.db.session() as session:
            numbers = dict(session.execute(select(Issue.id, Issue.number)).all())
        return sorted((r["subject"], r["subject_type"], r["unit"], r["rank"],
                       tuple(r["methods"]), tuple(sorted(numbers[i] for i in r["issues"])),
                       r["decided_by"], r["decided_on"], r["disclosed"])
                      for r in all_records(target))

    assert fields(other) == fields(engine)
    assert records(other) == records(engine)
    # And importing the export into the database it came from changes nothing
    before = snapshot(engine.db)
    again = import_ledger(engine, exported, plan=PLAN, actor=OFFICE)
    assert (again.created, again.updated, again.unchanged) == (0, 0, sample_counts()["rows"])
    assert again.accountability_added == 0
    assert snapshot(engine.db) == before


def test_reimport_updates_facts_by_number_with_a_history_event(engine: Engine,
                                                               tmp_path: Path) -> None:
    # Given a plan imported once
    rows = good_rows(3)
    import_ledger(engine, write_book(tmp_path / "a.xlsx", rows), plan=PLAN, actor=OFFICE)
    with engine.db.session() as session:
        first = session.scalar(select(Issue).where(Issue.number == "1"))
        assert first is not None and first.state == "in_progress"

    # When the ledger comes back with row 1 retitled and given a later deadline
    rows[0][2], rows[0][10] = "问题1（修订）", "2027-03-31"
    second = write_book(tmp_path / "b.xlsx", rows)
    result = import_ledger(engine, second, plan=PLAN, actor=OFFICE)

    # Then that issue is updated in place (no duplicate), its state unchanged, and its
    # history has a fact-change event naming the fields and the file's sha256
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    with engine.db.session() as session:
        issue = session.get(Issue, first.id)
        assert issue is not None
        assert (issue.title, issue.state) == ("问题1（修订）", "in_progress")
        assert session.scalar(select(func.count()).select_from(Issue)) == 3
        last = session.scalars(select(IssueEvent).where(IssueEvent.issue_id == first.id)
                               .order_by(IssueEvent.seq.desc())).first()
        pending = session.scalars(select(Timer.deadline_at).where(
            Timer.issue_id == first.id, Timer.status == "pending")).all()
    assert last is not None and last.trigger == "import"
    assert (last.from_state, last.to_state) == ("in_progress", "in_progress")
    assert set(last.payload["changed"]) == {"title", "deadline_at"}
    assert last.payload["sha256"] == hashlib.sha256(second.read_bytes()).hexdigest()
    assert {d for d in pending} == {issue.deadline_at}  # the timers follow the new deadline
    # and carries the facts it set, which verify compares with the row
    assert last.payload["facts"] == {"title": "问题1（修订）",
                                     "deadline_at": "2027-03-31T15:59:59+00:00"}
    assert verify(engine).ok
    with engine.db.transaction() as conn:
        conn.execute(update(Issue).where(Issue.id == first.id).values(title="问题1"))
    assert str(verify(engine).problem) == (f"issue {first.id}: the issue row says title = "
                                           "'问题1' but its history says '问题1（修订）'")


BAD_INPUTS: list[tuple[str, Any, list[str]]] = [
    ("missing required column",
     lambda rows: {"rows": [r[:10] + r[11:] for r in rows],
                   "header": HEADER[:10] + HEADER[11:]},
     ["missing required column(s) 整改时限"]),
    ("duplicate 序号", lambda rows: {"rows": [*rows[:2], [1, *rows[2][1:]]]},
     ["row 4, 序号", "repeats the 序号 of row 2"]),
    ("unparseable date", lambda rows: {"rows": [rows[0], [*rows[1][:10], "明年上旬",
                                                          *rows[1][11:]], rows[2]]},
     ["row 3, 整改时限", "'明年上旬'", "is not a date", "长期坚持"]),
    ("unknown state label", lambda rows: {"rows": [*rows[:2], [*rows[2][:12], "基本完成"]]},
     ["row 4, 整改状态", "'基本完成'", "allowed: 已交办、整改中"]),
    ("empty required cell", lambda rows: {"rows": [[*rows[0][:2], None, *rows[0][3:]],
                                                   *rows[1:]]},
     ["row 2, 反馈问题", "is empty"]),
    ("unknown rank", lambda rows: {"rows": rows, "accountability": [
        ["张某", "领导干部", "杜集区", "副处", "诫勉", "1", "市纪委", "2020-08-15", "是"]]},
     ["问责情况 row 2, 职级", "'副处'", "县处级"]),
    ("wrong sheet", lambda rows: {"rows": rows, "sheet": "Sheet1",
                                  "header": ["编号", *HEADER[1:]]},
     ["Sheet1", "no header row with 序号"]),
]


@pytest.mark.parametrize("case,change,expected", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_ledger_is_refused_naming_row_and_column_and_changes_nothing(
        engine: Engine, tmp_path: Path, case: str, change: Any, expected: list[str]) -> None:
    # Given a database holding an earlier import
    import_ledger(engine, write_book(tmp_path / "first.xlsx", good_rows(2)), plan="其他方案",
                  actor=OFFICE)
    before = snapshot(engine.db)
    path = write_book(tmp_path / "bad.xlsx", **change(good_rows(3)))

    # When a ledger with one defect is imported, it is refused with the row and column
    with pytest.raises(LedgerError) as refused:
        import_ledger(engine, path, plan=PLAN, actor=OFFICE)
    for text in expected:
        assert text in str(refused.value)
    # And nothing was written
    assert snapshot(engine.db) == before


def test_merged_header_cells_are_refused(engine: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "整改情况清单"
    sheet.append([*HEADER[:7], "责任单位", None, *HEADER[9:]])
    sheet.merge_cells("H1:I1")  # 责任单位 spanning 责任单位 and 配合单位
    sheet.append(good_rows(1)[0])
    book.save(tmp_path / "merged.xlsx")
    before = snapshot(engine.db)
    with pytest.raises(LedgerError, match=r"row 1, column I.*merged header cells"):
        import_ledger(engine, tmp_path / "merged.xlsx", plan=PLAN, actor=OFFICE)
    assert snapshot(engine.db) == before


@pytest.mark.parametrize("name,content", [("台账.xls", b"\xd0\xcf\x11\xe0 old excel"),
                                          ("台账.txt", "序号,反馈问题".encode()),
                                          ("台账.xlsx", b"not a zip at all")])
def test_a_file_that_is_not_a_workbook_is_refused(engine: Engine, tmp_path: Path, name: str,
                                                  content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    before = snapshot(engine.db)
    with pytest.raises(InputError, match="xlsx"):
        import_ledger(engine, tmp_path / name, plan=PLAN, actor=OFFICE)
    assert snapshot(engine.db) == before


def test_a_sheet_that_does_not_exist_is_named_with_the_sheets_there(engine: Engine,
                                                                    tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", good_rows(1))
    with pytest.raises(InputError, match="no sheet '台账'; its sheets: 整改情况清单"):
        import_ledger(engine, path, plan=PLAN, actor=OFFICE, sheet="台账")


def test_only_the_office_imports(engine: Engine, tmp_path: Path) -> None:
    path = write_book(tmp_path / "a.xlsx", good_rows(1))
    with pytest.raises(ActionDeniedError, match="unit"):
        import_ledger(engine, path, plan=PLAN, actor=UNIT)


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "child-reader"])
def test_ten_thousand_rows_with_one_bad_row_at_the_end(tmp_path: Path, clock: FrozenClock,
                                                       parallel: bool) -> None:
    engine = other_engine(tmp_path, clock)
    rows = good_rows(10_000)
    rows[-1][10] = "2020年13月"
    path = write_book(tmp_path / "big.xlsx", rows)
    before = snapshot(engine.db)
    with pytest.raises(LedgerError) as refused:
        import_ledger(engine, path, plan=PLAN, actor=OFFICE, parallel=parallel)
    assert [str(p) for p in refused.value.problems] == [
        "整改情况清单 row 10001, 整改时限: '2020年13月' is not a date; write 2020-12-31, "
        "2020/12/31, 2020年12月31日, 2020年12月, 2020年6月底, 2020年底 or 长期坚持"]
    assert snapshot(engine.db) == before


def test_csv_in_gb18030_with_english_headers(engine: Engine, tmp_path: Path) -> None:
    english = ["No.", "Category", "Problem", "Target", "Measures", "Leader", "Lead unit",
               "Responsible units", "Cooperating units", "Acceptance unit", "Deadline",
               "Progress", "State"]
    lines = [",".join(english)] + [",".join(str(c) for c in row) for row in good_rows(2)]
    path = tmp_path / "ledger.csv"
    path.write_bytes("\n".join(lines).encode("gb18030"))
    result = import_ledger(engine, path, plan=PLAN, actor=OFFICE)
    assert result.created == 2
    with engine.db.session() as session:
        issue = session.scalar(select(Issue).where(Issue.number == "2"))
    assert issue is not None and issue.responsible_units == ["相山区", "杜集区"]


@pytest.mark.parametrize("text,expected", [
    ("2020-12-31", date(2020, 12, 31)), ("2020/6/30", date(2020, 6, 30)),
    ("2020.06.30", date(2020, 6, 30)), ("2020年12月31日", date(2020, 12, 31)),
    ("2020年底", date(2020, 12, 31)), ("2021年6月底", date(2021, 6, 30)),
    ("2020年2月", date(2020, 2, 29)), ("2020年上半年", date(2020, 6, 30)),
])
def test_dates_as_officials_type_them(text: str, expected: date) -> None:
    assert parse_date(text) == expected


def test_report_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from workflow.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("init")
    run("ledger", "import", str(SAMPLE), "--plan", PLAN, "--as", "市整改办", "--role", "office")
    counts = sample_counts()
    report = json.loads(run("report", "progress", "--plan", PLAN, "--format", "json"))
    assert set(report) >= {"total", "by_state", "cleared", "in_progress", "overdue",
                           "accountability"}
    assert set(report["accountability"]) == {"organizations", "cadres", "by_rank"}
    assert report["total"] == counts["rows"]
    assert "## 按责任单位 by unit" in run("report", "progress", "--format", "md")
    assert "已完成整改" in run("report", "progress")
    month = datetime.now().strftime("%Y-%m")
    output = run("report", "monthly", "--month", month, "--out", str(tmp_path / "m"))
    assert "月度调度" in output
    markdown = (tmp_path / "m" / f"月度调度-{month}.md").read_text(encoding="utf-8")
    assert "红榜" in markdown and "黑榜" in markdown and "重点督办" in markdown
    assert (tmp_path / "m" / f"burndown-{month}.png").read_bytes()[:4] == b"\x89PNG"
    run("report", "monthly", "--month", "2021-13", code=2)
    run("ledger", "export", str(tmp_path / "out.xlsx"))
    book = load_workbook(tmp_path / "out.xlsx")
    sheet = book["整改情况清单"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    assert [c.value for c in sheet[1]][:13] == HEADER
    light = sheet.cell(row=2, column=len(ISSUE_COLUMNS) + 1)  # the first column after them
    assert light.fill.fgColor.rgb.endswith(("C6EFCE", "FFC7CE"))
    assert book["问责情况"].max_row == 1 + counts["organizations"] + sum(
        counts["cadres"].values())
    bad = write_book(tmp_path / "bad.xlsx", [[*good_rows(1)[0][:12], "不存在"]])
    output = run("ledger", "import", str(bad), "--plan", "x", "--as", "市整改办",
                 "--role", "office", code=2)
    assert "row 2, 整改状态" in output and "nothing imported" in output


def test_a_cleared_issue_without_a_due_time_is_green_in_the_ledger_query_as_on_its_page(
        engine: Engine, evidence_file: Path) -> None:
    from tests.support import OFFICE, fire_valid, new_issue
    from workflow.issues import queries, views

    cleared = new_issue(engine)
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, cleared, trigger, evidence_file)
    issue = queries.get_issue(engine.db, cleared)
    now = engine.clock.now()
    assert issue.due_at is None
    assert views.issue_view(engine.db, issue, engine.registry, now)["light"] == "green"
    found = {light: [i.id for i in queries.ledger_page(
        engine.db, engine.registry, queries.LedgerQuery(light=light), actor=OFFICE,
        now=now).issues] for light in ("green", "blue", "yellow", "red")}
    assert found == {"green": [cleared], "blue": [], "yellow": [], "red": []}
