"""Shared test vocabulary: actors in each role and the inputs each default transition needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from workflow.clock import SHANGHAI
from workflow.config import WebhookHosts
from workflow.db import Database
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.keys import HistoryKeys
from workflow.org.actors import Actor
from workflow.org.directory import OfficeAct, bootstrap_office

START = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)

# The history key of the tests (conftest also puts it in RECTIFY_HISTORY_KEY, so engines in
# child processes and the command line hash with the same key).
HISTORY_SECRET = "test-history-key-0123456789abcdef0123456789abcdef"
TEST_KEYS = HistoryKeys.of(HISTORY_SECRET)
# The webhook allowlist of tests whose receivers listen on loopback (http allowed).
LOOPBACK_ENV = {"RECTIFY_WEBHOOK_HOSTS": "127.0.0.1"}
LOOPBACK = WebhookHosts.parse(LOOPBACK_ENV["RECTIFY_WEBHOOK_HOSTS"])

OFFICE = Actor("市整改办", "office")
UNIT = Actor("相山区人民政府", "unit")
ACCEPTOR = Actor("市生态环境局", "acceptor")
LEADER = Actor("王副市长", "leader")
PUBLIC = Actor("群众", "public")



def start_directory(db: Database) -> Actor:
    """Register 市整改办 as the first office person (`rectify init --admin`); returns the
    office actor that registers everyone else."""
    bootstrap_office(db, OFFICE.name, key=TEST_KEYS.current)
    return OFFICE


def office_act(db: Database) -> OfficeAct:
    """The office's administrative acts (the directory started when empty), recorded on the
    audit trail under the tests' history key."""
    bootstrap_office(db, OFFICE.name, key=TEST_KEYS.current)
    return OfficeAct(OFFICE, TEST_KEYS.current)


FIVE_NEVER = {
    "problem_investigated": "是:已查明",
    "problem_solved": "是:已解决",
    "violations_punished": "是:已立案查处",
    "accountability_done": "是:已问责",
    "public_satisfied": "是:公示无异议",
}


def new_issue(engine: Engine, *, version: int | None = 1, **overrides: Any) -> int:
    """A new issue of 相山区, supervised by 王副市长, due 2026-06-30.

    It starts on rectification@1 (clearance straight from acceptance) unless ``version``
    says otherwise (None: the latest loaded): tests of deadlines, jobs and history need no
    acceptance steps. The steps of rectification@2, the shipped default, are tested in
    test_acceptance, test_roles and test_year.
    """
    facts: dict[str, Any] = {"title": "部分建筑工地扬尘防控不到位", "plan": "示例方案",
                             "unit": UNIT.name, "leader": LEADER.name,
                             "deadline": date(2026, 6, 30), **overrides}
    return engine.create_issue(NewIssue(**facts), actor=OFFICE, version=version)


def inputs_for(trigger: str, evidence: Path) -> dict[str, Any]:
    """Actor and the minimal valid inputs for each trigger of rectification@1 and @2."""
    return {
        "start": {"actor": UNIT},
        "apply_acceptance": {"actor": UNIT, "comment": "整改完成", "evidence": [evidence]},
        "site_check": {"actor": ACCEPTOR, "comment": "现场核查：整改到位，同意公示"},
        "object": {"actor": PUBLIC, "comment": "群众反映问题仍然存在"},
        "sign_off": {"actor": OFFICE, "comment": "公示无异议，同意销号"},
        "reject": {"actor": ACCEPTOR, "comment": "现场核查发现问题未整改到位"},
        "clear": {"actor": OFFICE, "comment": "同意销号", "checklist": FIVE_NEVER,
                  "evidence": [evidence]},
        "start_follow_up": {"actor": OFFICE},
        "consolidate": {"actor": OFFICE, "comment": "巩固"},
        "rebound": {"actor": OFFICE, "comment": "问题反弹",
                    "fields": {"new_deadline": "2026-12-31"}},
        "extend": {"actor": OFFICE, "comment": "确有正当理由，同意延期",
                   "fields": {"new_deadline": "2026-09-30"}},
    }[trigger]


def fire_valid(engine: Engine, issue_id: int, trigger: str, evidence: Path, **extra: Any) -> Any:
    return engine.fire(issue_id, trigger, **{**inputs_for(trigger, evidence), **extra})


@contextmanager
def tamper(db: Database) -> Iterator[Connection]:
    """A connection with the append-only guard switched off, as a hand-editor who owns the
    tables would do."""
    with db.transaction() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_events_append_only_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS issue_events_append_only_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE issue_events DISABLE TRIGGER "
                                 "issue_events_append_only")
        yield conn
        if not db.is_sqlite:
            conn.exec_driver_sql("ALTER TABLE issue_events ENABLE TRIGGER "
                                 "issue_events_append_only")
