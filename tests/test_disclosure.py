"""The public disclosure list (workflow/documents/disclosure.py): the public columns only, and
no non-public value anywhere in it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from tests.support import OFFICE, office_act
from tests.test_ledger import PLAN, SAMPLE
from workflow.clock import FrozenClock, local
from workflow.documents.disclosure import PUBLIC_COLUMNS, write_public
from workflow.documents.ledger_import import import_ledger
from workflow.issues.checkpoints import Checkpoint, latest_checkpoint, write_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles, create_signing_key
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
    html, xlsx = write_public(engine, out=tmp_path / "public", checkpoint=None, plan=PLAN)

    # Then its columns are the public ones, and no non-public value appears anywhere
    book = load_workbook(xlsx, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    assert list(rows[0]) == [label for _, label in PUBLIC_COLUMNS]
    assert len(rows) == 1 + len(issues) + 1  # the header, the issues, the checkpoint line
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


def test_the_disclosure_names_the_latest_checkpoint_or_says_there_is_none(
        engine: Engine, clock: FrozenClock, tmp_path: Path) -> None:
    # Given the sample imported and no checkpoint signed yet
    import_ledger(engine, SAMPLE, plan=PLAN, actor=OFFICE)
    files = TrustFiles.for_database(engine.db.url)
    create_signing_key(files)

    def written(checkpoint: Checkpoint | None) -> tuple[str, str]:
        html, xlsx = write_public(engine, out=tmp_path / "public", checkpoint=checkpoint,
                                  plan=PLAN)
        book = load_workbook(xlsx, read_only=True)
        last = list(book.active.iter_rows(values_only=True))[-1][0]
        book.close()
        return html.read_text(encoding="utf-8"), str(last)

    # When the disclosure is written / Then both files say plainly there is no checkpoint yet
    html, last = written(latest_checkpoint(files))
    assert last == "历史存证：尚无签名存证 (no signed history checkpoint yet)。"
    assert last in html
    # When a checkpoint is signed and the disclosure written again
    clock.advance(timedelta(hours=1))
    made = write_checkpoint(engine.db, files, clock.now())
    html, last = written(latest_checkpoint(files))
    # Then both name that checkpoint: its number, time (Asia/Shanghai) and digest
    assert last == (f"历史存证 #1：{local(made.at):%Y-%m-%d %H:%M} 签名，摘要 {made.root[:16]}"
                    f"（{made.issues}个问题，{made.events}条记录）。")
    assert last in html and made.root[:16] in html
