"""Ledger import speed and memory against the floor of reading the same file, in one run.

A ledger of N rows (default 100,000) in the official columns is written once as xlsx (kept in
``--dir`` for later runs), the way Excel saves it: the sheet's dimension at the top, so a
reader knows the row count before streaming. Then, each in a fresh child process:

- import: ``rectify init`` on a fresh SQLite file, then ``rectify ledger import FILE --plan P
  --json`` (all rows valid; every row becomes an issue with its import event and timers);
- floor: the same file streamed through openpyxl's read-only mode (values only), which the
  import cannot beat because it reads the file the same way.

Figures: rows/s of each, import / floor, and each one's peak memory: the resident set of the
process and its descendants (the import's reader child included) summed, sampled every 50 ms.
Targets: ≥ 2,000 rows/s and peak memory ≤ 300 MB for the import.

    .venv/bin/python bench/import.py            # --rows N, --dir DIR, --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["序号", "问题类别", "反馈问题", "整改目标", "整改措施", "责任领导", "牵头单位",
          "责任单位", "配合单位", "验收单位", "整改时限", "整改进展", "整改状态"]
CATEGORIES = ["大气污染防治", "水污染防治", "土壤和固体废物污染防治", "生态保护与修复",
              "环境监管与执法"]
LEADERS = ["王建国", "李红梅", "张志强", "刘淑芬", "赵立新", "孙海涛", "周文静", "吴国华"]
UNITS = ["相山区", "杜集区", "烈山区", "濉溪县", "市生态环境局", "市水务局", "市住房城乡建设局",
         "市自然资源和规划局"]
DEADLINES = ["2020年12月31日", "2020-06-30", "2020/10/31", "2020年底", "2021年6月底", "长期坚持"]
STATES = ["已销号"] * 6 + ["整改中"] * 3 + ["待验收"]

FLOOR = """
import sys
from openpyxl import load_workbook
book = load_workbook(sys.argv[1], read_only=True)
rows = sum(1 for _ in book[book.sheetnames[0]].iter_rows(values_only=True))
print(rows - 1)
"""


def make_ledger(path: Path, rows: int) -> None:
    """Write the ledger (openpyxl write-only), then put the sheet's dimension at the top as
    Excel does."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("整改情况清单")
    sheet.append(HEADER)
    for n in range(1, rows + 1):
        units = UNITS[n % 4] + ("、" + UNITS[4 + n % 4] if n % 3 == 0 else "")
        sheet.append([
            n, CATEGORIES[n % 5],
            f"{UNITS[n % 4]}第{n}号问题：部分企业污染防治设施运行不正常，群众反映强烈",
            "全面完成整改，污染物稳定达标排放，建立长效监管机制",
            "开展专项执法检查，督促企业完成设施改造，落实属地监管责任，定期开展巡查",
            LEADERS[n % 8], UNITS[4 + n % 4], units, UNITS[4 + (n + 1) % 4] if n % 2 else None,
            "市生态环境局", DEADLINES[n % len(DEADLINES)], f"已完成第{n % 10 + 1}阶段工作",
            STATES[n % len(STATES)]])
    raw = path.with_suffix(".raw.xlsx")
    book.save(raw)
    dimension = f'<dimension ref="A1:M{rows + 1}"/>'
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", item.filename):
                data = data.replace(b"<sheetViews>", dimension.encode() + b"<sheetViews>", 1)
            out.writestr(item, data)
    raw.unlink()


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a child process; returns (seconds, peak RSS in MB of the child and all its
    descendants together, sampled every 50 ms, and stdout)."""
    import psutil

    started = time.perf_counter()
    peak = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = psutil.Popen(args, env=env, stdout=out, stderr=err)
        while process.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            sys.exit(f"{' '.join(args[:3])} failed:\n{out.read().decode()}\n"
                     f"{err.read().decode()}")
        return seconds, peak / 2**20, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rectify-bench")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    options.dir.mkdir(parents=True, exist_ok=True)
    ledger = options.dir / f"ledger-{options.rows}.xlsx"
    if not ledger.exists():
        print(f"writing {ledger} ({options.rows:,} rows)…", file=sys.stderr)
        make_ledger(ledger, options.rows)

    python = sys.executable
    rectify = str(Path(python).with_name("rectify"))
    work = Path(tempfile.mkdtemp(dir=options.dir))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'import.db'}",
           "RECTIFY_EVIDENCE_DIR": str(work / "evidence")}
    try:
        run_child([rectify, "init"], env)
        print("floor: streaming the file…", file=sys.stderr)
        floor_s, floor_mb, floor_out = run_child([python, "-c", FLOOR, str(ledger)], env)
        assert int(floor_out.strip()) == options.rows
        print("import…", file=sys.stderr)
        import_s, import_mb, import_out = run_child(
            [rectify, "ledger", "import", str(ledger), "--plan", "bench", "--json"], env)
        result = json.loads(import_out)
        assert result["created"] == options.rows, result
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "rows": options.rows, "import_seconds": round(import_s, 1),
        "import_rows_per_s": round(options.rows / import_s),
        "import_peak_rss_mb": round(import_mb, 1),
        "floor_seconds": round(floor_s, 1), "floor_rows_per_s": round(options.rows / floor_s),
        "floor_peak_rss_mb": round(floor_mb, 1),
        "import_over_floor": round(floor_s / import_s, 2),
    }
    if options.json:
        print(json.dumps(figures))
        return
    print(f"rows: {options.rows:,}\n"
          f"import: {figures['import_rows_per_s']:,} rows/s ({import_s:.1f} s), peak RSS "
          f"{import_mb:.0f} MB  (targets ≥ 2,000 rows/s, ≤ 300 MB)\n"
          f"floor (openpyxl read-only, same file): {figures['floor_rows_per_s']:,} rows/s "
          f"({floor_s:.1f} s), peak RSS {floor_mb:.0f} MB\n"
          f"import / floor: {figures['import_over_floor']:.2f}")


if __name__ == "__main__":
    main()
