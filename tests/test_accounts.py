"""Accounts and tokens from the command line: the password rules (at least 10 characters,
not the login; nothing stored when refused), Argon2id hashes, the office alone managing
them, and tokens printed once and stored hashed. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from workflow.cli import app
from workflow.db import Database
from workflow.models import Account, ApiToken

OFFICE = "市整改办"


@pytest.fixture
def rectify(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`rectify ARGS` (standard input ``stdin``) on a started directory: the office and a
    unit person 张科长."""
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.delenv("RECTIFY_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin)

    assert run("init", "--admin", OFFICE).exit_code == 0
    assert run("units", "add", "相山区人民政府", "--as", OFFICE).exit_code == 0
    assert run("people", "add", "张科长", "--role", "unit", "--unit", "相山区人民政府",
               "--as", OFFICE).exit_code == 0
    return run


def accounts(db: Database) -> list[Account]:
    with db.session() as session:
        return list(session.scalars(select(Account)))


@pytest.mark.parametrize(("login", "password", "message"), [
    ("zhang", "short", "the password has 5 characters; at least 10 are needed"),
    ("zhangkezhang", "ZhangKeZhang", "the password may not be the login"),
    ("z", "a good long password", "login 'z' is not allowed"),
])
def test_a_password_or_login_the_rules_refuse_stores_nothing(
        rectify, db: Database, login: str, password: str, message: str) -> None:
    # When the office adds an account with a bad password or login
    result = rectify("accounts", "add", login, "--person", "张科长", "--password-stdin",
                     "--as", OFFICE, stdin=password + "\n")
    # Then it exits 2 saying what was wrong and what is allowed, and nothing is stored
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert accounts(db) == []


def test_an_account_stores_an_argon2id_hash_and_is_on_the_audit_trail(
        rectify, db: Database) -> None:
    # When the office adds an account for a registered person
    result = rectify("accounts", "add", "zhang", "--person", "张科长", "--password-stdin",
                     "--as", OFFICE, stdin="a good long password\n")
    # Then it is stored with an Argon2id hash, never the password, in the person's role
    assert result.exit_code == 0, result.output
    [account] = accounts(db)
    assert account.password_hash.startswith("$argon2id$")
    assert "a good long password" not in account.password_hash
    assert (account.person, account.role) == ("张科长", "unit")
    listed = json.loads(rectify("accounts", "list", "--json").output)
    assert [(a["login"], a["person"], a["disabled"]) for a in listed] == [
        ("zhang", "张科长", False)]
    trail = json.loads(rectify("audit", "list", "--as", OFFICE, "--json").output)
    assert trail[-1]["action"] == "account_add" and trail[-1]["actor"] == OFFICE
    # And only the office reads the trail
    refused = rectify("audit", "list", "--as", "张科长")
    assert refused.exit_code == 1 and "roles allowed: office" in refused.output


def test_only_the_office_manages_accounts(rectify, db: Database) -> None:
    # When a unit person adds an account
    result = rectify("accounts", "add", "zhang", "--person", "张科长", "--password-stdin",
                     "--as", "张科长", stdin="a good long password\n")
    # Then it is refused naming the role allowed, and nothing is stored
    assert result.exit_code == 1
    assert "may not manage sign-in accounts; roles allowed: office" in result.output
    assert accounts(db) == []


def test_a_password_is_never_taken_from_the_command_line(rectify, db: Database) -> None:
    result = rectify("accounts", "add", "zhang", "--person", "张科长", "--as", OFFICE)
    assert result.exit_code == 2 and "--password-stdin" in result.output
    assert accounts(db) == []


def test_an_unregistered_person_gets_no_account(rectify, db: Database) -> None:
    result = rectify("accounts", "add", "wang", "--person", "王五", "--password-stdin",
                     "--as", OFFICE, stdin="a good long password\n")
    assert result.exit_code == 2 and "'王五' is not a registered person" in result.output
    assert accounts(db) == []


def test_reset_password_applies_the_rules_and_changes_the_hash(rectify, db: Database) -> None:
    rectify("accounts", "add", "zhang", "--person", "张科长", "--password-stdin",
            "--as", OFFICE, stdin="a good long password\n")
    [before] = accounts(db)
    refused = rectify("accounts", "reset-password", "zhang", "--password-stdin",
                      "--as", OFFICE, stdin="zhang\n")
    assert refused.exit_code == 2 and accounts(db)[0].password_hash == before.password_hash
    done = rectify("accounts", "reset-password", "zhang", "--password-stdin",
                   "--as", OFFICE, stdin="another long password\n")
    assert done.exit_code == 0, done.output
    assert accounts(db)[0].password_hash != before.password_hash


def test_a_token_is_printed_once_alone_on_the_last_line_and_stored_hashed(
        rectify, db: Database) -> None:
    rectify("accounts", "add", "zhang", "--person", "张科长", "--password-stdin",
            "--as", OFFICE, stdin="a good long password\n")
    # When the office creates a token that expires in 90 days
    result = rectify("tokens", "create", "zhang", "--scope", "write", "--expires", "90d",
                     "--as", OFFICE)
    # Then the token stands alone on the last line, and only its sha256 is stored
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("rt_") and " " not in token
    with db.session() as session:
        [row] = session.scalars(select(ApiToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.scope == "write" and row.expires_at is not None
    assert token not in rectify("tokens", "list", "--json").output


@pytest.mark.parametrize(("args", "message"), [
    (["--scope", "admin"], "unknown scope 'admin'; scopes: read, write"),
    (["--expires", "soon"], "--expires 'soon' is not a span of time"),
])
def test_a_bad_token_request_is_refused_and_stores_nothing(
        rectify, db: Database, args: list[str], message: str) -> None:
    rectify("accounts", "add", "zhang", "--person", "张科长", "--password-stdin",
            "--as", OFFICE, stdin="a good long password\n")
    result = rectify("tokens", "create", "zhang", *args, "--as", OFFICE)
    assert result.exit_code == 2 and message in result.output
    with db.session() as session:
        assert list(session.scalars(select(ApiToken))) == []
