"""`rectify demo`: plays the sample plan in ``examples/demo`` on a throw-away SQLite file.

The steps carry their own times, so a frozen clock follows them and the history reads like
the real year it imitates. Everything goes through the same ``Engine.fire`` as real use.
The command then prints the ledger and the histories, shows a refused clearance, verifies the
history and imports the sample ledger of ``examples/huaibei-2019``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field

from workflow.cli.common import console, reports_errors
from workflow.cli.tables import history_table, ledger_table
from workflow.clock import FrozenClock, local
from workflow.config import PROJECT_ROOT, Settings
from workflow.errors import InputError, RequirementError
from workflow.issues import queries
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.keys import HistoryKeys, TrustFiles
from workflow.issues.verification import verify as verify_history
from workflow.issues.views import issue_view
from workflow.org.actors import Actor
from workflow.startup import create_keys, initialize, mark_database, open_engine

DEMO_DIR = PROJECT_ROOT / "examples" / "demo"
SAMPLE_LEDGER = PROJECT_ROOT / "examples" / "huaibei-2019" / "ledger.xlsx"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DemoStep(_Model):
    at: datetime
    issue: str
    trigger: str
    actor: str
    role: str
    comment: str | None = None
    evidence: list[str] = Field(default_factory=list)
    checklist: dict[str, str] | None = None
    fields: dict[str, Any] | None = None


class DemoPlan(_Model):
    plan: str
    definition: str
    issues: list[NewIssue]
    steps: list[DemoStep]
    as_of: datetime


def load_plan(path: Path) -> DemoPlan:
    return DemoPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def run_demo(workdir: Path, *, on_step: Callable[[str], None] = lambda _: None,
             demo_dir: Path = DEMO_DIR) -> tuple[Engine, DemoPlan]:
    """Create the sample plan in ``workdir`` and play its steps.

    Returns:
        the engine (its clock set to the plan's ``as_of``) and the plan.
    """
    plan = load_plan(demo_dir / "plan.yaml")
    clock = FrozenClock(plan.steps[0].at)
    settings = Settings(database_url=f"sqlite:///{workdir / 'demo.db'}",
                        evidence_dir=workdir / "evidence",
                        definitions_dir=PROJECT_ROOT / "definitions")
    # The demo's key files stay in its work directory, whatever the environment says.
    files = TrustFiles.for_database(settings.database_url, environ={})
    create_keys(files, clock.now(), environ={})
    engine = open_engine(settings, clock=clock, require_schema=False,
                         keys=HistoryKeys.load(files, environ={}))
    initialize(engine, settings.definitions_dir)
    mark_database(engine.db, training=True)  # its clock follows the plan's steps
    office = Actor("市整改办", "office")
    ids: dict[str, int] = {}
    clock.set(min(step.at for step in plan.steps).replace(hour=8, minute=0))
    for item in plan.issues:
        ids[item.number or ""] = engine.create_issue(
            replace(item, plan=plan.plan), actor=office, definition=plan.definition,
            comment="按整改方案交办")
    on_step(f"交办 {len(ids)} 个问题 / assigned {len(ids)} issues")
    for step in plan.steps:
        clock.set(step.at)
        result = engine.fire(
            ids[step.issue], step.trigger, actor=Actor(step.actor, step.role),
            comment=step.comment, checklist=step.checklist, fields=step.fields,
            evidence=[demo_dir / "evidence" / name for name in step.evidence])
        on_step(f"{step.at:%Y-%m-%d} #{step.issue} {step.trigger}: "
                f"{result.from_state} → {result.to_state}")
    clock.set(plan.as_of)
    return engine, plan


@reports_errors
def demo(keep: Annotated[Path | None, typer.Option(help="Keep the demo database in this "
                                                   "directory instead of a temporary one.")]
         = None,
         serve: Annotated[bool, typer.Option(
             "--serve", help="Then serve the demo's pages on http://127.0.0.1:PORT (sign in "
                             "with the accounts it prints) until Ctrl-C.")] = False,
         port: Annotated[int, typer.Option(min=1, max=65535,
                                           help="Port of --serve.")] = 8000) -> None:
    """Play a small sample plan on a throw-away SQLite file and print ledger and histories;
    with --serve, then open it in a browser."""
    with tempfile.TemporaryDirectory(prefix="rectify-demo-") as scratch:
        workdir = keep or Path(scratch)
        if workdir.exists() and not workdir.is_dir():
            raise InputError(f"--keep {workdir}: that is a file; give a directory (new or "
                             "existing) to keep the demo database in")
        workdir.mkdir(parents=True, exist_ok=True)
        console.rule("rectify demo")
        engine, plan = run_demo(workdir, on_step=lambda line: console.print(f"  {line}"))
        now = engine.clock.now()
        issues = queries.list_issues(engine.db, engine.registry,
                                     queries.IssueFilter(plan=plan.plan), now=now)
        views = [issue_view(engine.db, issue, engine.registry, now) for issue in issues]
        console.print(ledger_table(
            views, title=f"整改情况清单 · {plan.plan} · 截至 {local(now):%Y-%m-%d}"))
        for issue in issues:
            console.print(history_table(queries.history(engine.db, issue.id), engine.registry,
                                        issue.definition_id, issue.definition_version,
                                        title=f"#{issue.number} {issue.title}"))
        pending = next(v for v in views if v["state"] == "acceptance")
        try:
            engine.fire(pending["id"], "clear", actor=Actor("市整改办", "office"),
                        comment="申请销号")
        except RequirementError as exc:
            console.print("A clearance without the 五个决不放过 checklist is refused:",
                          style="bold")
            for problem in exc.problems:
                console.print(f"  - {problem}", highlight=False, markup=False)
        report = verify_history(engine)
        console.print(f"history verified: {report.issues} issues, {report.events} events, "
                      f"{'intact' if report.ok else report.problem}")
        _demo_sample_ledger(engine)
        if serve:
            _serve(engine, plan, port)
        if keep:
            console.print(f"demo database kept in {workdir / 'demo.db'}")
        engine.db.dispose()


DEMO_PEOPLE = (  # login, person, role, unit: one of each party the pages serve
    ("office", "市整改办", "office", None),
    ("unit", "张科长", "unit", "相山区人民政府"),
    ("acceptor", "王工", "acceptor", "市城管局"),
    ("leader", "王副市长", "leader", None),
)


def _serve(engine: Engine, plan: DemoPlan, port: int) -> None:
    """Register one person and account of each party, then serve the pages on loopback,
    the clock running on from the plan's ``as_of``."""
    import secrets

    from workflow.api.app import create_app
    from workflow.api.pages import ROLE_LABELS
    from workflow.auth.accounts import add_account
    from workflow.auth.settings import AuthSettings
    from workflow.cli.background import http_server
    from workflow.clock import RunningClock
    from workflow.org.directory import OfficeAct, add_person, add_unit, bootstrap_office, units

    office = Actor("市整改办", "office")
    bootstrap_office(engine.db, office.name, key=engine.keys.current)
    act = OfficeAct(office, engine.keys.current)
    known = {unit.name for unit in units(engine.db)}
    for _, _, _, unit in DEMO_PEOPLE:
        if unit and unit not in known:
            add_unit(engine.db, unit, by=act)
            known.add(unit)
    password = "demo-" + secrets.token_urlsafe(9)
    table = []
    for login, person, role, unit in DEMO_PEOPLE:
        if person != office.name:
            add_person(engine.db, person, by=act, roles=[role], unit=unit)
        add_account(engine.db, login, person=person, password=password, by=act,
                    now=engine.clock.now(), role=role)
        table.append(f"  {login:<10} {person}（{ROLE_LABELS.get(role, role)}）")
    engine.clock = RunningClock(plan.as_of)
    console.rule("rectify demo --serve")
    console.print(f"open http://127.0.0.1:{port}/ in a browser; sign in as one of (password "
                  f"{password}):", highlight=False)
    for line in table:
        console.print(line, highlight=False, markup=False)
    console.print("the public portal needs no sign-in; Ctrl-C stops the demo", highlight=False)
    http_server("127.0.0.1", port, app=create_app(engine, AuthSettings.from_env())).run()


def _demo_sample_ledger(engine: Engine) -> None:
    """The demo's second part: the sample ledger of examples/huaibei-2019 imported, and the
    progress report officials write from it."""
    from workflow.documents.figures import progress_report
    from workflow.documents.ledger_import import import_ledger

    sample = SAMPLE_LEDGER
    plan = "淮北市整改方案（示例台账）"
    console.rule(f"rectify ledger import {sample.parent.name}/{sample.name} (示例数据)")
    result = import_ledger(engine, sample, plan=plan, actor=Actor("市整改办", "office"))
    console.print(f"  {result.created} issues and {result.accountability_added} "
                  "accountability records imported")
    report = progress_report(engine, plan=plan)
    console.print(f"  {report.summary_zh()}", highlight=False)
    console.print(f"  {report.accountability_zh()}", highlight=False)
