"""`rectify demo`: plays the sample plan in ``examples/demo`` on a throw-away SQLite file.

The steps carry their own times, so a frozen clock follows them and the history reads like
the real year it imitates. Everything goes through the same ``Engine.fire`` as real use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from workflow.clock import FrozenClock
from workflow.config import PROJECT_ROOT, Settings
from workflow.issues.engine import Engine, NewIssue
from workflow.org.actors import Actor
from workflow.startup import initialize, open_engine

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
    engine = open_engine(settings, clock=clock, require_schema=False)
    initialize(engine, settings.definitions_dir)
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
