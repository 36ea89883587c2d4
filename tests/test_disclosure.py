"""The public disclosure list (workflow/documents/disclosure.py): the public columns only, and
no non-public value anywhere in it."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from tests.support import OFFICE, office_act
from tests.test_ledger import PLAN, SAMPLE
from workflow.documents.disclosure import PUBLIC_COLUMNS, write_public
from workflow.documents.ledger_import import import_ledger
from workflow.issues.engine import Engine
from workflow.models import AccountabilityRecord, Issue


def test_public_report_holds_public_fields_only(engine: Engine, tmp_path: Path) -> None:
    # Given the sample imported and a leader's contact on file
    import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)
    from workflow.notify.contacts import add_contact

    with engine.db.session() as session:
        issues = list(session.scalars(select(Issue)))
        leader = issues[0].leader
    assert leader is not None
    add_contact(engine.db, leader, "email", "leader@example.org", by=office_act(engine.db))

    # When the disclosure list is written
    html, xlsx = write_public(engine, out=tmp_path / "public", plan=PLAN)

    # Then its columns are the public ones, and no non-public value appears anywhere
    book = load_workbook(xlsx, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    assert list(rows[0]) == [label for _, label in PUBLIC_COLUMNS]
    assert len(rows) == 1 + len(issues)
    text = html.read_text(encoding="utf-8") + "\n".join(str(c) for r in rows for c in r)
    secrets = {"leader@example.org"}
    for issue in issues:
        secrets |= {issue.leader or "", issue.target or "", issue.progress_note or ""}
    with engine.db.session() as session:
        secrets |= set(session.scalars(select(AccountabilityRecord.subject)))
        secrets |= set(session.scalars(select(AccountabilityRecord.decided_by)))
    found = sorted(s for s in secrets if s and s in text)
    assert found == []
    for issue in issues:  # and each issue's public fields are there
        assert issue.title in text and (issue.measures or "") in text
