"""The HTTP server with real sign-in: a real `rectify web` process (uvicorn) on a free
loopback port, spoken to with httpx, on SQLite and PostgreSQL. Sign-in, wrong passwords,
the lockout, session expiry, CSRF, sign-out, TOTP, token scopes and revocation, and issues
scoped by the access policy."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pyotp
import pytest

from tests.api_support import OFFICE, PASSWORD, PROBLEM, UNIT_A, UNIT_B, Server

pytestmark = pytest.mark.processes


def test_healthz_answers_with_the_schema_version(server: Server) -> None:
    # When the health check is asked
    answer = httpx.get(server.url + "/healthz")
    # Then it answers 200 with the schema version the database is at, which is the head
    assert answer.status_code == 200
    assert answer.json()["schema"] == answer.json()["head"] == "0023"


def test_serve_answers_http_beside_the_scheduler(start_server: Callable[..., Server]) -> None:
    # When `rectify serve` runs (the scheduler and the in-process workers with it)
    server = start_server("serve", BROKER_URL="")
    # Then it answers over HTTP and signs people in
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert server.sign_in("zhang").get("/api/v1/me").status_code == 200
    # And SIGTERM stops it cleanly
    assert server.process.terminate() == 0


def test_sign_in_sets_a_safe_cookie_and_me_names_the_person(server: Server) -> None:
    # When a registered person signs in
    client = server.client()
    answer = client.post("/api/v1/session", json={"login": "zhang", "password": PASSWORD})
    # Then the session cookie is HttpOnly and SameSite=Lax (not Secure over plain http)
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert "rectify_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Secure" not in cookie
    assert answer.json()["csrf_token"]
    # And /me names the person, role and unit
    me = client.get("/api/v1/me").json()
    assert (me["login"], me["person"], me["role"], me["unit"], me["via"]) == (
        "zhang", "张科长", "unit", UNIT_A, "session")
    # And the sign-in is on the audit trail
    assert "sign_in" in server.cli("audit", "list", "--as", OFFICE, "--json")


def test_the_cookie_is_secure_behind_https_only_when_the_proxy_is_trusted(
        start_server: Callable[..., Server]) -> None:
    # Given a server told to trust X-Forwarded-Proto
    server = start_server(RECTIFY_TRUST_FORWARDED_PROTO="1")
    body = {"login": "zhang", "password": PASSWORD}
    # When a sign-in comes through the https proxy
    answer = server.client().post("/api/v1/session", json=body,
                                  headers={"X-Forwarded-Proto": "https"})
    # Then the cookie is Secure
    assert "Secure" in answer.headers["set-cookie"]


def test_the_forwarded_proto_is_ignored_when_not_configured(server: Server) -> None:
    answer = server.client().post("/api/v1/session", json={"login": "zhang",
                                                            "password": PASSWORD},
                                  headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in answer.headers["set-cookie"]


def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(server: Server) -> None:
    # When a known login gives a wrong password, and an unknown login signs in
    wrong = server.client().post("/api/v1/session", json={"login": "zhang",
                                                           "password": "not the password"})
    unknown = server.client().post("/api/v1/session", json={"login": "nobody",
                                                             "password": PASSWORD})
    # Then both are 401 problems saying the same thing, and no cookie is set
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["type"] == "urn:rectify:problem:unauthenticated"
        assert "set-cookie" not in answer.headers
    assert wrong.json()["detail"] == unknown.json()["detail"] == "login or password is wrong"
    assert "sign_in_failed" in server.cli("audit", "list", "--as", OFFICE, "--json")


def test_five_failures_lock_the_login_and_an_unknown_login_alike(server: Server) -> None:
    # When a known and an unknown login each fail 5 times, each try from another address
    for login in ("zhang", "ghost"):
        for n in range(5):
            answer = server.try_sign_in(login, "guess guess", f"127.0.0.{10 + n}")
            assert answer.status_code == 401, answer.text
    # Then even the right password is refused, from a fresh address, with the same answer
    # for the known and the unknown login
    right = server.try_sign_in("zhang", PASSWORD, "127.0.0.20")
    ghost = server.try_sign_in("ghost", PASSWORD, "127.0.0.20")
    for answer in (right, ghost):
        assert answer.status_code == 429, answer.text
        assert answer.json()["type"] == "urn:rectify:problem:locked-out"
        assert int(answer.headers["retry-after"]) > 0
    # (the minutes left may differ by one: the two locks began moments apart)
    assert re.sub(r"\d+", "N", right.json()["detail"]) == \
        re.sub(r"\d+", "N", ghost.json()["detail"])
    # And another login from that address still signs in: the address is not locked
    assert server.try_sign_in("li.ke", PASSWORD, "127.0.0.20").status_code == 200
    assert "lockout" in server.cli("audit", "list", "--as", OFFICE, "--json")


def test_five_failures_from_one_address_lock_that_address_for_every_login(
        server: Server) -> None:
    # Given 5 failures for five different logins from one address
    for n in range(5):
        assert server.try_sign_in(f"guess{n}", "guess guess", "127.0.0.30").status_code == 401
    # When a registered login signs in with its right password from that address
    locked = server.try_sign_in("li.ke", PASSWORD, "127.0.0.30")
    # Then it is locked out there, and signs in from another address
    assert locked.status_code == 429
    assert server.try_sign_in("li.ke", PASSWORD, "127.0.0.31").status_code == 200


def test_an_idle_session_ends(start_server: Callable[..., Server]) -> None:
    # Given sessions that end after 2 s unused
    server = start_server(RECTIFY_SESSION_IDLE="2s")
    client = server.sign_in("zhang")
    assert client.get("/api/v1/me").status_code == 200
    # When the session is left unused longer than that
    time.sleep(3)
    # Then it is refused: sign in again
    answer = client.get("/api/v1/me")
    assert answer.status_code == 401
    assert "session has ended" in answer.json()["detail"]


def test_a_session_ends_at_its_absolute_limit_though_used(
        start_server: Callable[..., Server]) -> None:
    server = start_server(RECTIFY_SESSION_MAX="3s")
    client = server.sign_in("zhang")
    for _ in range(4):  # used every second: never idle
        time.sleep(1)
    assert client.get("/api/v1/me").status_code == 401


def test_an_unsafe_request_without_the_csrf_token_is_refused(server: Server) -> None:
    # Given a signed-in browser session
    client = server.sign_in("zhang")
    token = client.headers.pop("X-CSRF-Token")
    # When it signs out without the CSRF token, or with a wrong one
    missing = client.delete("/api/v1/session")
    wrong = client.delete("/api/v1/session", headers={"X-CSRF-Token": "forged"})
    # Then both are 403 and the session still works
    for answer in (missing, wrong):
        assert answer.status_code == 403
        assert answer.json()["type"] == "urn:rectify:problem:refused"
        assert "X-CSRF-Token" in answer.json()["detail"]
    assert client.get("/api/v1/me").status_code == 200
    # And with the token it signs out
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": token}).status_code == 204
    assert "request_refused" in server.cli("audit", "list", "--as", OFFICE, "--json")


def test_sign_out_revokes_the_session_on_the_server(server: Server) -> None:
    # Given a session whose cookie was copied
    client = server.sign_in("zhang")
    copied = dict(client.cookies)
    # When the browser signs out
    assert client.delete("/api/v1/session").status_code == 204
    # Then the copied cookie is worth nothing
    replay = server.client()
    replay.cookies.update(copied)
    assert replay.get("/api/v1/me").status_code == 401


def test_totp_is_asked_once_set_up_and_required_for_the_office_when_configured(
        start_server: Callable[..., Server]) -> None:
    server = start_server(RECTIFY_REQUIRE_TOTP="1")
    # When an office account without a second factor signs in
    refused = server.client().post("/api/v1/session", json={"login": "office",
                                                             "password": PASSWORD})
    # Then it is refused, saying how to set one up
    assert refused.status_code == 401
    assert "rectify accounts totp" in refused.json()["detail"]
    # And a unit account without one still signs in
    server.sign_in("zhang")
    # When the office sets up a second factor (the URI is printed once, on the last line)
    uri = server.cli("accounts", "totp", "office", "--as", OFFICE).strip().splitlines()[-1]
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    # Then the password alone is not enough, a wrong code is refused, the right one signs in
    alone = server.client().post("/api/v1/session", json={"login": "office",
                                                           "password": PASSWORD})
    assert alone.status_code == 401 and "one-time code" in alone.json()["detail"]
    wrong = server.client().post("/api/v1/session", json={
        "login": "office", "password": PASSWORD, "totp": "000000" if totp.now() != "000000"
        else "111111"})
    assert wrong.status_code == 401
    code = totp.now()
    client = server.sign_in("office", totp=code)
    assert client.get("/api/v1/me").json()["totp"] is True
    # And the same code is not accepted twice
    again = server.client().post("/api/v1/session", json={"login": "office",
                                                           "password": PASSWORD, "totp": code})
    assert again.status_code == 401


def test_token_scopes_and_revocation(server: Server) -> None:
    # Given a read token and a write token for zhang (printed alone on the last line)
    read = server.cli("tokens", "create", "zhang", "--scope", "read", "--expires", "90d",
                      "--as", OFFICE).strip().splitlines()[-1]
    write = server.cli("tokens", "create", "zhang", "--scope", "write",
                       "--as", OFFICE).strip().splitlines()[-1]
    client = server.client()
    # When each reads
    for token in (read, write):
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["via"] == "token"
    # Then a read token is refused an unsafe method (403), a write token is not refused for
    # its scope
    refused = client.delete("/api/v1/session", headers={"Authorization": f"Bearer {read}"})
    assert refused.status_code == 403 and "scope read" in refused.json()["detail"]
    # And its use is recorded
    listed = server.cli("tokens", "list", "--json")
    assert '"last_used_at": ""' not in listed
    assert "token_use" in server.cli("audit", "list", "--as", OFFICE, "--json")
    # When the read token is revoked
    server.cli("tokens", "revoke", "1", "--as", OFFICE)
    # Then it is refused, and the other still works
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {read}"}
                      ).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {write}"}
                      ).status_code == 200
    # And a token that is not one is refused
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer rt_forged"}
                      ).status_code == 401


def test_a_unit_reads_its_own_issue_and_another_units_is_not_found(server: Server) -> None:
    client = server.sign_in("zhang")
    # When unit A lists issues and asks for each
    listed = client.get("/api/v1/issues").json()
    own, other = client.get("/api/v1/issues/1"), client.get("/api/v1/issues/2")
    missing = client.get("/api/v1/issues/999")
    # Then it sees its own only; another unit's is 404 exactly like one that does not exist
    assert [item["id"] for item in listed["items"]] == [1]
    assert own.status_code == 200 and own.json()["unit"] == UNIT_A
    assert other.status_code == 404 and other.headers["content-type"] == PROBLEM
    assert other.json()["type"] == missing.json()["type"] == "urn:rectify:problem:not-found"
    assert other.json()["detail"] == "issue 2 does not exist"
    assert UNIT_B not in other.text


def test_issues_page_by_id_with_an_opaque_cursor(server: Server) -> None:
    client = server.sign_in("office")
    # When the office reads one issue per page
    first = client.get("/api/v1/issues", params={"limit": 1}).json()
    second = client.get("/api/v1/issues", params={"limit": 1,
                                                  "cursor": first["next_cursor"]}).json()
    # Then the pages follow in id order and the last has no next cursor
    assert [i["id"] for i in first["items"]] == [1] and first["next_cursor"]
    assert [i["id"] for i in second["items"]] == [2] and second["next_cursor"] is None
    # And a cursor the API did not give, or a limit out of range, is a 422 problem
    for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 201}):
        bad = client.get("/api/v1/issues", params=params)
        assert bad.status_code == 422 and bad.json()["type"] == "urn:rectify:problem:bad-input"


def test_without_sign_in_issues_are_401_and_the_public_sees_disclosed_fields(
        server: Server) -> None:
    # When no one is signed in
    anonymous = server.client().get("/api/v1/issues")
    # Then it is 401, saying how to sign in
    assert anonymous.status_code == 401 and "POST /api/v1/session" in anonymous.json()["detail"]
    # And a signed-in public account reads the disclosed fields only
    public = server.sign_in("public").get("/api/v1/issues").json()["items"]
    assert [i["id"] for i in public] == [1, 2]
    assert "leader" not in public[0] and "acceptance_unit" not in public[0]


def test_a_disabled_account_loses_its_session(server: Server) -> None:
    client = server.sign_in("li.ke")
    server.cli("accounts", "disable", "li.ke", "--as", OFFICE)
    assert client.get("/api/v1/me").status_code == 401
    answer = server.client().post("/api/v1/session", json={"login": "li.ke",
                                                            "password": PASSWORD})
    assert answer.status_code == 401 and answer.json()["detail"] == "login or password is wrong"


def test_unknown_routes_are_problems_too(server: Server) -> None:
    answer = server.client().get("/api/v1/nothing")
    assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM

