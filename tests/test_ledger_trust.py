"""Ledger imports that cannot fake a record: a re-import never changes a state, a first import
records the sheet's states with the file and its dates (reports count by them, as of any
day), merged cells fill every row, and oversized or malicious files are refused."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support import FIVE_NEVER, OFFICE, office_act
from tests.test_ledger import HEADER, PLAN, SAMPLE, good_rows, snapshot, write_book
from workflow.clock import FrozenClock
from workflow.documents.figures import progress_report
from workflow.documents.ledger_import import LedgerError, import_ledger
from workflow.errors import InputError
from workflow.issues.engine import Engine
from workflow.issues.queries import cleared_dates
from workflow.issues.verification import verify
from workflow.issues.views import public_views
from workflow.models import Issue, IssueEvent
from workflow.org.actors import Actor
from workflow.org.plans import add_inspection, add_plan

ROOT = Path(__file__).resolve().parent.parent
WORKER = Actor("相山区", "unit")
CHECKER = Actor("市生态环境局", "acceptor")


def sample_copy(path: Path, *, flip: dict[int, str] | None = None,
                dates: dict[int, tuple[str | None, str | None]] | None = None) -> Path:
    """The sample ledger with some rows' 整改状态 changed (序号 → label) and, when ``dates``
    is given, the columns 交办日期 and 销号日期 (序号 → (交办日期, 销号日期))."""
    book = load_workbook(SAMPLE)
    sheet = book["整改情况清单"]
    if dates is not None:
        sheet.cell(row=1, column=14, value="交办日期")
        sheet.cell(row=1, column=15, value="销号日期")
    for row in range(2, sheet.max_row + 1):
        number = sheet.cell(row=row, column=1).value
        if flip and number in flip:
            sheet.cell(row=row, column=13, value=flip[number])
        if dates and number in dates:
            sheet.cell(row=row, column=14, value=dates[number][0])
            sheet.cell(row=row, column=15, value=dates[number][1])
    book.save(path)
    return path


def sample_states() -> dict[int, str]:
    book = load_workbook(SAMPLE, read_only=True)
    states = {r[0]: r[12] for r in book["整改情况清单"].iter_rows(min_row=2, values_only=True)}
    book.close()
    return states


def issue_states(engine: Engine) -> dict[str, str]:
    with engine.db.session() as session:
        return dict(session.execute(select(Issue.number, Issue.state)).all())


# ---- a re-import never changes a state ------------------------------------------------

def test_a_ledger_that_says_cleared_is_refused_naming_the_row(engine: Engine,
                                                              tmp_path: Path) -> None:
    # Given the 68-row sample imported
    import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)
    before = snapshot(engine.db)
    states = issue_states(engine)
    in_progress = next(n for n, s in sample_states().items() if s == "整改中")

    # When it comes back with one item in progress flipped to 已销号
    flipped = sample_copy(tmp_path / "flipped.xlsx", flip={in_progress: "已销号"})
    with pytest.raises(LedgerError) as refused:
        import_ledger(engine, flipped, plan=PLAN, actor=OFFICE)

    # Then the whole import is refused with the row named and what to do, nothing changed
    message = str(refused.value)
    assert f"序号 {in_progress} (整改情况清单 row {in_progress + 1}): the ledger says 已销号, " \
           "the system says 整改中 — clear it through acceptance" in message
    assert "nothing imported" in message and "--facts-only" in message
    assert [c.number for c in refused.value.conflicts] == [str(in_progress)]
    assert snapshot(engine.db) == before
    assert issue_states(engine) == states


def test_a_stale_ledger_cannot_move_an_issue_back(engine: Engine, tmp_path: Path,
                                                 evidence_file: Path) -> None:
    # Given a ledger imported, and then issue 1 applied for acceptance in the system
    rows = good_rows(3)
    first = write_book(tmp_path / "first.xlsx", rows)
    import_ledger(engine, first, plan=PLAN, actor=OFFICE)
    with engine.db.session() as session:
        one = session.scalar(select(Issue.id).where(Issue.number == "1"))
    engine.fire(one, "apply_acceptance", actor=WORKER, comment="整改完成",
                evidence=[evidence_file])
    assert issue_states(engine)["1"] == "acceptance"
    before = snapshot(engine.db)

    # When the old ledger (序号 1 still 整改中) is imported again
    with pytest.raises(LedgerError) as refused:
        import_ledger(engine, first, plan=PLAN, actor=OFFICE)

    # Then it is refused (no lost update), naming the row; nothing changed
    assert "序号 1 (整改情况清单 row 2): the ledger says 整改中, the system says 待验收 — " \
           "the ledger is older than the system" in str(refused.value)
    assert snapshot(engine.db) == before

    # When the same ledger, with a new progress text, is imported with facts_only
    rows[0][11] = "已提交验收申请"
    result = import_ledger(engine, write_book(tmp_path / "later.xlsx", rows), plan=PLAN,
                           actor=OFFICE, facts_only=True)

    # Then the facts are imported and the state stays what the system says
    assert [c["number"] for c in result.states_kept] == ["1"]
    assert result.updated == 1
    assert issue_states(engine)["1"] == "acceptance"
    with engine.db.session() as session:
        issue = session.get(Issue, one)
        assert issue is not None and issue.progress_note == "已提交验收申请"
    assert verify(engine).ok


def test_an_issue_cleared_in_the_system_is_not_reopened_by_a_ledger(
        engine: Engine, clock: FrozenClock, tmp_path: Path, evidence_file: Path) -> None:
    # Given an issue cleared through acceptance (rectification@2: site check, 公示, sign-off)
    rows = good_rows(1)
    ledger = write_book(tmp_path / "a.xlsx", rows)
    import_ledger(engine, ledger, plan=PLAN, actor=OFFICE)
    with engine.db.session() as session:
        one = session.scalar(select(Issue.id).where(Issue.number == "1"))
    engine.fire(one, "apply_acceptance", actor=WORKER, comment="整改完成",
                evidence=[evidence_file])
    engine.fire(one, "site_check", actor=CHECKER, comment="现场核查：整改到位，同意公示")
    clock.advance(timedelta(days=8))  # the 公示 runs its 7 days
    engine.fire(one, "sign_off", actor=OFFICE, comment="公示无异议，同意销号")
    engine.fire(one, "clear", actor=OFFICE, comment="同意销号", checklist=FIVE_NEVER,
                evidence=[evidence_file])
    assert issue_states(engine)["1"] == "cleared"
    before = snapshot(engine.db)

    # When a ledger still saying 整改中 is imported
    with pytest.raises(LedgerError) as refused:
        import_ledger(engine, ledger, plan=PLAN, actor=OFFICE)

    # Then it is refused: the system has it cleared
    assert "the ledger says 整改中, the system says 已销号 — the system has it cleared" in \
        str(refused.value)
    assert snapshot(engine.db) == before


# ---- a first import records the ledger's states and dates ---------------------------------

def test_a_first_import_is_recorded_from_the_ledger_with_its_dates(engine: Engine,
                                                                  tmp_path: Path) -> None:
    # Given a ledger with 交办日期 and 销号日期 for some rows, describing 2021-03-28
    path = sample_copy(tmp_path / "dated.xlsx", dates={1: ("2020-04-10", "2020-11-30"),
                                                        2: (None, None)})
    # When it is imported as of that day
    result = import_ledger(engine, path, plan=PLAN, actor=OFFICE, as_of=date(2021, 3, 28))

    # Then each first event names the file, its sha256 and the dates the sheet gives
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.sha256 == sha
    with engine.db.session() as session:
        issues = {i.number: i for i in session.scalars(select(Issue))}
        firsts = {e.issue_id: e for e in session.scalars(
            select(IssueEvent).where(IssueEvent.seq == 1))}
    one, two = firsts[issues["1"].id].payload, firsts[issues["2"].id].payload
    assert (one["recorded"], one["source"], one["sha256"], one["as_of"]) == \
        ("ledger", "dated.xlsx", sha, "2021-03-28")
    assert (one["assigned_on"], one["cleared_on"]) == ("2020-04-10", "2020-11-30")
    assert (two["assigned_on"], two["cleared_on"]) == (None, None)
    # And the clearance date is the sheet's, or blank; never the day of the import
    cleared = cleared_dates(engine.db, engine.registry, list(issues.values()))
    assert cleared[issues["1"].id] == "2020-11-30"
    assert issues["2"].id not in cleared
    public = public_views(engine.db, [issues["1"], issues["2"]], engine.registry,
                          engine.clock.now())
    assert [v["cleared_on"] for v in public] == ["2020-11-30", None]


def test_reports_as_of_a_day_count_by_the_ledger_dates(engine: Engine, tmp_path: Path) -> None:
    # Given the sample ledger imported as the snapshot of 2021-03-28 (no date columns)
    import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE, as_of=date(2021, 3, 28))

    # When the progress is reported as of that day, years before the import
    report = progress_report(engine, plan=PLAN, as_of=date(2021, 3, 28))

    # Then it is the sentence of the source report, exactly, the overdue count a sentence of
    # its own; the clearances recorded from the ledger
    assert report.summary_zh() == ("截至2021年3月28日，68个整改任务，已完成整改66个，其余2个正在"
                                   "推进整改。其中2个已超过整改时限。")
    assert (report.cleared_recorded, report.as_dict()["cleared_in_system"]) == (66, 0)
    assert "录入系统前已销号（台账记录）66个" in report.clearance_zh()
    # And before that day nothing is known: no 交办日期, no feedback date for the plan
    assert progress_report(engine, plan=PLAN, as_of=date(2021, 1, 1)).total == 0


def test_reports_before_the_snapshot_use_the_sheet_and_plan_dates(engine: Engine,
                                                                 tmp_path: Path) -> None:
    # Given the plan registered with its inspection's feedback date (反馈意见 2020-04-02)
    by = office_act(engine.db)
    add_inspection(engine.db, "省第三生态环境保护督察组", by=by, level="省级",
                   period=(date(2019, 9, 23), date(2019, 10, 30)),
                   feedback_on=date(2020, 4, 2))
    add_plan(engine.db, PLAN, by=by, inspection="省第三生态环境保护督察组")
    # And the sample with 销号日期 for 3 items, one of them after 2021-01-01, and one item
    # handed over (交办日期) only in 2021-02
    states = sample_states()
    cleared = [n for n, s in states.items() if s == "已销号"]
    dates: dict[int, tuple[str | None, str | None]] = {
        cleared[0]: (None, "2020-10-31"), cleared[1]: (None, "2020-12-31"),
        cleared[2]: (None, "2021-02-15"), cleared[3]: ("2021-02-01", None)}
    path = sample_copy(tmp_path / "dated.xlsx", dates=dates)
    import_ledger(engine, path, plan=PLAN, actor=OFFICE, as_of=date(2021, 3, 28))

    # When the progress is reported as of 2021-01-01
    report = progress_report(engine, plan=PLAN, as_of=date(2021, 1, 1))

    # Then only what the dates put before that day counts: 67 items handed over, 2 cleared
    assert (report.total, report.completed) == (67, 2)
    assert report.by_state.get("cleared") == 2
    # And as of the snapshot day everything the sheet says holds
    march = progress_report(engine, plan=PLAN, as_of=date(2021, 3, 28))
    assert (march.total, march.completed) == (68, 66)
    # And before the feedback date there was nothing
    assert progress_report(engine, plan=PLAN, as_of=date(2020, 4, 1)).total == 0


def test_dates_after_the_snapshot_and_a_future_snapshot_are_refused(engine: Engine,
                                                                   tmp_path: Path) -> None:
    path = sample_copy(tmp_path / "late.xlsx", dates={1: (None, "2021-04-30")})
    with pytest.raises(LedgerError, match=r"row 2, 销号日期: '2021-04-30' is after 2021-03-28"):
        import_ledger(engine, path, plan=PLAN, actor=OFFICE, as_of=date(2021, 3, 28))
    with pytest.raises(InputError, match=r"--as-of 2027-01-01: .* or earlier"):
        import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE, as_of=date(2027, 1, 1))
    assert snapshot(engine.db)["Issue"] == 0


def test_cli_imports_as_of_a_day_and_refuses_a_flipped_row(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    from workflow.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("RECTIFY_ACTOR", "市整改办")  # changes need an actor: the office
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    # Given the sample imported as the ledger of 2021-03-28
    run("init")
    run("ledger", "import", str(SAMPLE), "--plan", PLAN, "--as-of", "2021-03-28")
    # When the progress is reported as of that day, it prints the report's sentence
    assert "截至2021年3月28日，68个整改任务，已完成整改66个，其余2个正在推进整改" in \
        run("report", "progress", "--as-of", "2021-03-28")
    # And a re-import with one row flipped to 已销号 is refused, the row named
    number = next(n for n, s in sample_states().items() if s == "整改中")
    flipped = sample_copy(tmp_path / "flipped.xlsx", flip={number: "已销号"})
    output = run("ledger", "import", str(flipped), "--plan", PLAN, code=2)
    assert f"序号 {number}" in output and "clear it through acceptance" in output
    assert "Traceback" not in output
    refused = json.loads(run("ledger", "import", str(flipped), "--plan", PLAN, "--json",
                             code=2))
    assert refused["imported"] is False
    assert refused["conflicts"][0]["ledger_state"] == "已销号"
    # And with --facts-only the facts are imported, no state changed
    done = json.loads(run("ledger", "import", str(flipped), "--plan", PLAN, "--facts-only",
                          "--json"))
    assert [c["number"] for c in done["states_kept"]] == [str(number)]
    report = json.loads(run("report", "progress", "--format", "json"))
    assert report["cleared"] == 66


# ---- merged cells ----------------------------------------------------------------------

@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "child-reader"])
def test_merged_category_and_leader_fill_every_row_of_their_range(engine: Engine,
                                                                  tmp_path: Path,
                                                                  parallel: bool) -> None:
    # Given a ledger formatted as offices do: 问题类别 and 责任领导 merged over rows
    rows = good_rows(5)
    for row in rows[1:3]:
        row[1] = row[5] = None
    rows[3][1] = "水污染防治"
    rows[3][5] = "李红梅"
    rows[4][1] = rows[4][5] = None
    path = tmp_path / "merged.xlsx"
    write_book(path, rows)
    book = load_workbook(path)
    sheet = book["整改情况清单"]
    for ref in ("B2:B4", "F2:F4", "B5:B6", "F5:F6"):
        sheet.merge_cells(ref)
    book.save(path)

    # When it is imported
    result = import_ledger(engine, path, plan=PLAN, actor=OFFICE, parallel=parallel)

    # Then every row has the category and leader of its range
    assert result.created == 5
    with engine.db.session() as session:
        found = {i.number: (i.category, i.leader) for i in session.scalars(select(Issue))}
    assert found == {"1": ("大气污染防治", "王建国"), "2": ("大气污染防治", "王建国"),
                     "3": ("大气污染防治", "王建国"), "4": ("水污染防治", "李红梅"),
                     "5": ("水污染防治", "李红梅")}


# ---- limits and malicious files ---------------------------------------------------------

def cell_bomb(path: Path, *, megabytes: int = 600, shared: bool = False) -> Path:
    """A small xlsx holding one cell of ``megabytes`` MB (inline, or a shared string)."""
    header = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{label}</t></is></c>'
                     for i, label in enumerate(["序号", "反馈问题", "责任单位", "整改时限"]))
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    big = '<c r="B2" t="s"><v>0</v></c>' if shared else '<c r="B2" t="inlineStr"><is><t>'
    files = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.'
        'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType='
        '"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="'
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxml'
        f'formats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook {ns} xmlns:r="{rel}"><sheets>'
        '<sheet name="整改情况清单" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0"?><Relationships xmlns="http://'
        f'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in files.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<?xml version="1.0"?><worksheet {ns}><sheetData><row r="1">{header}'
                        f'</row><row r="2"><c r="A2"><v>1</v></c>{big}'.encode())
            if not shared:
                block = b"a" * (1 << 20)
                for _ in range(megabytes):
                    sheet.write(block)
                sheet.write(b"</t></is></c>")
            sheet.write(b"</row></sheetData></worksheet>")
        if shared:
            with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
                strings.write(f'<?xml version="1.0"?><sst {ns}><si><t>'.encode())
                block = b"a" * (1 << 20)
                for _ in range(megabytes):
                    strings.write(block)
                strings.write(b"</t></si></sst>")
    return path


CHILD = """
import json, resource, sys
from pathlib import Path
from workflow.cli import app
try:
    app([ "ledger", "import", sys.argv[1], "--plan", "bomb"])
except SystemExit as exit:
    code = exit.code
# This process's own high-water mark (VmHWM): ru_maxrss would carry the RSS of the test
# process that spawned it (Linux keeps the larger of the two across exec).
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"code": code, "peak_mb": max(peak, children)}))
"""


@pytest.mark.parametrize("shared", [False, True], ids=["inline-cell", "shared-string"])
def test_a_cell_bomb_is_refused_within_300_mb(tmp_path: Path, shared: bool) -> None:
    # Given a small xlsx holding one cell of 600 MB
    bomb = cell_bomb(tmp_path / "bomb.xlsx", shared=shared)
    assert bomb.stat().st_size < 1_000_000

    # When a child process imports it through the CLI
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bomb.db'}", "PATH": "/usr/bin:/bin",
           "RECTIFY_EVIDENCE_DIR": str(tmp_path / "evidence"), "RECTIFY_ACTOR": "市整改办"}
    subprocess.run([sys.executable, "-m", "workflow.cli", "init"], env=env, check=True,
                   cwd=ROOT, capture_output=True)
    child = subprocess.run([sys.executable, "-c", CHILD, str(bomb)], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)

    # Then it is refused with a message saying what is allowed, within 300 MB, no traceback
    assert "Traceback" not in child.stderr, child.stderr
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    assert figures["code"] == 2
    assert "32,767 characters" in child.stderr and "nothing imported" in child.stderr
    assert figures["peak_mb"] < 300, figures


def test_limits_on_size_columns_and_cells_are_named(engine: Engine, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(engine.db)
    # A value past the 100th column
    wide = write_book(tmp_path / "wide.xlsx", [[*good_rows(1)[0], *([None] * 100), "x"]])
    with pytest.raises(InputError, match=r"row 2: a value in column DJ, past column CV"):
        import_ledger(engine, wide, plan=PLAN, actor=OFFICE)
    # A CSV cell longer than a cell may hold
    rows = good_rows(1)
    rows[0][2] = "长" * 40_000
    lines = [",".join(HEADER)]
    lines += [",".join(str(c) for c in row) for row in rows]
    csv_path = tmp_path / "long.csv"
    csv_path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError, match=r"column C: a cell of 40,000 characters.*32,767"):
        import_ledger(engine, csv_path, plan=PLAN, actor=OFFICE)
    # A file over the size limit
    from workflow.documents import ledger_file

    monkeypatch.setattr(ledger_file, "MAX_FILE_BYTES", 1000)
    with pytest.raises(InputError, match=r"the file has .* MB; nothing imported.*at most 50 MB"):
        import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)
    assert snapshot(engine.db) == before


def test_an_xml_entity_bomb_is_refused(engine: Engine, tmp_path: Path) -> None:
    # Given an xlsx whose workbook part declares entities (a "billion laughs")
    path = write_book(tmp_path / "a.xlsx", good_rows(1))
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>')
    patched = tmp_path / "laughs.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(patched, "w") as out:
        for item in source.infolist():
            data: Any = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = laughs.encode() + data.split(b"?>", 1)[-1]
            out.writestr(item, data)
    with pytest.raises(InputError, match="not allowed XML"):
        import_ledger(engine, patched, plan=PLAN, actor=OFFICE)
    assert snapshot(engine.db)["Issue"] == 0
