"""Accounts and sessions (issue 9 §3) and the audit they leave (§4): sessions that end at once,
timeouts, htmx sent to the login page as a whole page, login throttling, the password policy,
the SECRET_KEY check, the auditor's separation of duties, and the append-only audit table."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import func, select, text

from conftest import SUITE_NOW, Client, _lowered_limit
from case_steps import case_in, user
from casework.extensions import db
from casework.models import AuditEntry, User
from casework.services import audit, passwords

GOOD_PASSWORD = "Grid-Work-2026!"


def _cookie(client) -> str:
    return client.http.get_cookie("session").value


def _replay(app, cookie: str):
    """A second browser carrying a copied session cookie."""
    other = Client(app)
    other.http.set_cookie("session", cookie, domain="localhost")
    return other


def _audit_rows(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# ---- sessions end at once -------------------------------------------------------------------------

def test_a_cookie_copied_before_logout_is_refused_afterwards(app, session, login_as):
    client = login_as("wangge01")
    copied = _cookie(client)
    assert _replay(app, copied).get("/board/").status_code == 200  # the copy works while logged in
    assert client.post("/logout").status_code == 302
    replayed = _replay(app, copied).get("/board/")
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    assert _audit_rows("logout")[-1].actor_name == "wangge01"


def test_password_change_ends_other_sessions_and_keeps_this_one(app, session, login_as):
    me = login_as("wangge01")
    elsewhere = login_as("wangge01")
    response = me.post("/password", {"current": "demo", "new": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 303
    assert me.get("/board/").status_code == 200
    assert elsewhere.get("/board/").status_code == 302
    assert "密码已修改" in me.get("/password?changed=1").text
    assert _audit_rows("password.change")[-1].outcome == "ok"
    assert login_as().post("/login", {"username": "wangge01", "password": GOOD_PASSWORD,
                                        "csrf_token": login_as().csrf()}).status_code in (302, 400)


def test_password_change_errors_are_next_to_the_fields(app, session, login_as):
    me = login_as("wangge01")
    response = me.post("/password", {"current": "wrong", "new": "short", "confirm": "short"})
    assert response.status_code == 422
    assert "当前密码不正确。" in response.text and "密码至少需要 10 个字符。" in response.text
    response = me.post("/password", {"current": "demo", "new": GOOD_PASSWORD, "confirm": GOOD_PASSWORD + "x"})
    assert response.status_code == 422 and "两次输入的新密码不一致。" in response.text
    assert user("wangge01").check_password("demo")
    assert _audit_rows("password.change")[-1].outcome == "refused"


@pytest.mark.parametrize("change", ["deactivate", "role", "grids"])
def test_deactivation_and_access_changes_end_sessions(app, session, change, login_as):
    client = login_as("wangge01")
    assert client.get("/board/").status_code == 200
    u = user("wangge01")
    if change == "deactivate":
        u.active = False
    elif change == "role":
        u.role = "community_supervisor"
        u.community = u.grids[0].community
    else:
        u.grids = list(user("wangge02").grids)
    db.session.commit()
    response = client.get("/board/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---- timeouts -------------------------------------------------------------------------------------

def test_idle_timeout_ends_the_session(app, session, login_as):
    client = login_as("wangge01")
    start = SUITE_NOW
    with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
        assert client.get("/board/").status_code == 200  # activity: the idle clock restarts
    with time_machine.travel(start + dt.timedelta(minutes=29 + 29), tick=False):
        assert client.get("/board/").status_code == 200
        # The board's own polling is not activity.
        assert client.get("/board/", headers={"HX-Request": "true", "HX-Trigger": "board"}).status_code in (200, 304)
    with time_machine.travel(start + dt.timedelta(minutes=29 + 29 + 31), tick=False):
        response = client.get("/board/")
        assert response.status_code == 302 and "ended=1" in response.headers["Location"]
        page = client.get(response.headers["Location"])
        assert "登录已失效" in page.text


def test_absolute_timeout_ends_even_a_busy_session(app, session, login_as):
    client = login_as("wangge01")
    start = SUITE_NOW
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert client.get("/notices/").status_code == 200
    with time_machine.travel(start + dt.timedelta(hours=12, minutes=1), tick=False):
        assert client.get("/notices/").status_code == 302


def test_timeouts_are_configurable(app, session, login_as):
    saved = app.config["SESSION_IDLE_MINUTES"]
    app.config["SESSION_IDLE_MINUTES"] = 5
    try:
        client = login_as("wangge01")
        with time_machine.travel(SUITE_NOW + dt.timedelta(minutes=6), tick=False):
            assert client.get("/board/").status_code == 302
    finally:
        app.config["SESSION_IDLE_MINUTES"] = saved


def test_htmx_request_after_the_session_ended_gets_hx_redirect(app, session, login_as):
    client = login_as("wangge01")
    copied = _cookie(client)
    client.post("/logout")  # ends every session of the user, the copied one too
    response = _replay(app, copied).get("/board/columns/new", headers={"HX-Request": "true", "HX-Trigger": "board",
                                                         "HX-Current-URL": "http://localhost/board/?status="})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=/board/")
    assert "ended=1" in response.headers["HX-Redirect"]
    assert response.text == "", "nothing to swap into a column"


# ---- login throttling -----------------------------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def five_failures_lock(request, app):
    """The real lock (5 failures per account) on memory storage or Redis."""
    yield from _lowered_limit(request, app, LOGIN_LOCK_ACCOUNT="5 per 15 minutes",
                              LOGIN_LOCK_ADDRESS="10 per 15 minutes")


def _try(app, username: str, password: str):
    client = Client(app)
    return client.post("/login", {"username": username, "password": password, "csrf_token": client.csrf()})


def test_five_failures_lock_the_account_with_the_same_words_for_unknown_users(app, session, five_failures_lock):
    answers = {}
    for name in ("wangge01", "nobody-here"):
        for _ in range(4):
            response = _try(app, name, "wrong")
            assert response.status_code == 422 and "用户名或密码不正确。" in response.text
        fifth = _try(app, name, "wrong")
        assert fifth.status_code == 429 and "登录失败次数过多，请 15 分钟后再试。" in fifth.text
        locked = _try(app, name, "demo")  # even the right password waits
        assert locked.status_code == 429
        answers[name] = re.sub(r'(csrf_token" (?:type="hidden" )?value="|X-CSRFToken": ")[^"]+', "", locked.text.replace(name, "N"))
    assert answers["wangge01"] == answers["nobody-here"]
    failed = _audit_rows("login.failed")
    assert [r.object for r in failed[-10:]] == ["wangge01"] * 5 + ["unknown"] * 5
    assert "nobody-here" not in "".join(r.details + r.object for r in failed)
    assert [r.object for r in _audit_rows("login.locked")[-2:]] == ["wangge01", "unknown"]
    assert _audit_rows("login.refused")[-1].outcome == "locked"
    # Another account from the same address: the address lock (10 failures) has been reached.
    assert _try(app, "wangge02", "demo").status_code == 429


def test_the_lock_lifts_after_its_window(app, session, five_failures_lock):
    if five_failures_lock == "redis":
        pytest.skip("Redis expires keys on its own clock")
    for _ in range(5):
        _try(app, "wangge01", "wrong")
    assert _try(app, "wangge01", "demo").status_code == 429
    with time_machine.travel(SUITE_NOW + dt.timedelta(minutes=16), tick=False):
        assert _try(app, "wangge01", "demo").status_code == 302


def test_login_and_failure_are_audited_without_the_password(app, session, login_as):
    login_as("wangge01")
    _try(app, "wangge01", "secret-typed-wrong")
    ok, failed = _audit_rows("login.ok")[-1], _audit_rows("login.failed")[-1]
    assert ok.actor_name == "wangge01" and ok.address == "127.0.0.1"
    assert failed.outcome == "refused" and "secret-typed-wrong" not in failed.details
    assert audit.first_broken() is None


def test_unknown_users_cost_a_hash_check(app, session, monkeypatch):
    from casework.services import accounts
    checked = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    _try(app, "nobody-here", "wrong")
    _try(app, "wangge01", "wrong")
    assert len(checked) == 2 and checked[0].split("$")[0] == checked[1].split("$")[0]


# ---- password policy ------------------------------------------------------------------------------

def test_password_policy(app):
    with app.app_context():
        assert passwords.problems(GOOD_PASSWORD) == []
        assert "密码至少需要 10 个字符。" in passwords.problems("Ab1!")
        assert any("至少 3 类" in p for p in passwords.problems("alllowercaseletters"))
        assert "这个密码太常见，请换一个。" in passwords.problems("Password123")
        app.config["PASSWORD_MIN_LENGTH"], app.config["PASSWORD_MIN_CLASSES"] = 16, 4
        try:
            assert len(passwords.problems(GOOD_PASSWORD)) == 1
            assert passwords.problems("Grid-Work-2026!-long") == []
        finally:
            app.config["PASSWORD_MIN_LENGTH"], app.config["PASSWORD_MIN_CLASSES"] = 10, 3


def test_periodic_change_sends_the_user_to_the_password_page(app, session, login_as):
    u = user("wangge01")
    u.password_changed_at = dt.datetime(2020, 1, 1)
    db.session.commit()
    app.config["PASSWORD_MAX_AGE_DAYS"] = 90
    try:
        client = login_as("wangge01")
        response = client.get("/board/")
        assert response.status_code == 302 and "/password?expired=1" in response.headers["Location"]
        assert client.get("/board/", headers={"HX-Request": "true"}).headers["HX-Redirect"].startswith("/password")
        assert "您的密码已到期" in client.get("/password?expired=1").text
    finally:
        app.config["PASSWORD_MAX_AGE_DAYS"] = 0


# ---- SECRET_KEY -----------------------------------------------------------------------------------

def test_the_app_refuses_to_start_without_a_secret_key():
    from casework import create_app
    from casework.config import TestConfig
    config = type("NoKey", (TestConfig,), {"SECRET_KEY": None})
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app(config)


# ---- the auditor, and the admin without cases -----------------------------------------------------

@pytest.fixture
def auditor(session):
    u = User(username="shenji01", display_name="审计员 何平", role="auditor")
    u.set_password("demo")
    db.session.add(u)
    db.session.commit()
    return u


def test_the_auditor_reads_the_audit_log_and_nothing_else(app, session, auditor, login_as):
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    client = login_as()
    response = client.login_as("shenji01")
    assert response.headers["Location"].endswith("/audit/")
    page = client.get("/audit/")
    assert page.status_code == 200 and "审计日志" in page.text and "login.ok" in page.text
    for url in ("/board/", "/cases/", f"/cases/{case.id}", f"/board/cards/{case.id}", "/cases/new", "/reports/",
                "/reports/export.csv", "/reports/cases.csv?figure=received", "/notices/", "/admin/",
                "/admin/limits", f"/cases/{case.id}/clock", f"/cases/{case.id}/photos/1"):
        assert client.get(url).status_code in (403, 404), url
    for url in (f"/cases/{case.id}/events/sign", f"/cases/{case.id}/phone", f"/cases/{case.id}/urge"):
        assert client.post(url, {"version": 1}, htmx=True).status_code in (403, 404), url
    assert "看板" not in page.text.split("<main")[0]


def test_audit_page_filters_and_csv(app, session, auditor, login_as):
    login_as("wangge01")
    _try(app, "wangge02", "wrong")
    client = login_as("shenji01")
    page = client.get("/audit/?action=login&outcome=refused&actor=wangge02")
    assert page.status_code == 200
    rows = page.text.split('id="audit-rows"')[1]
    assert "login.failed" in rows and "login.ok" not in rows
    today = SUITE_NOW.date()
    assert "login.failed" in client.get(f"/audit/?start={today}&end={today}&action=login.failed").text
    empty = client.get(f"/audit/?end={today - dt.timedelta(days=400)}").text.split('id="audit-rows"')[1]
    assert "<td>" not in empty
    bad = client.get("/audit/?start=2026-13-45&actor=wangge02")
    assert bad.status_code == 422 and "请按 2026-12-02 的格式填写日期。" in bad.text and 'value="wangge02"' in bad.text
    csv = client.get("/audit/audit.csv?action=login.failed")
    assert csv.status_code == 200 and csv.text.startswith("\ufeff") and "login.failed" in csv.text
    assert "login.ok" not in csv.text
    assert _audit_rows("export")[-1].object == "audit.csv"


@pytest.mark.parametrize("name", ["admin", "jiedao", "wangge01"])
def test_only_the_auditor_opens_the_audit_log(app, session, name, login_as):
    assert login_as(name).get("/audit/").status_code == 404


def test_the_admin_reads_no_case(app, session, login_as):
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    admin = login_as("admin")
    assert admin.get(f"/cases/{case.id}").status_code == 404
    listing = admin.get("/cases/")
    assert case.number not in listing.text
    assert admin.get("/").headers["Location"].startswith("/admin")


# ---- the audit of reveals and exports -------------------------------------------------------------

def test_phone_reveal_and_exports_are_audited(app, session, login_as):
    case = case_in("triage", user("wangge01").grids[0].buildings[0])
    client = login_as("wangge01")
    assert client.post(f"/cases/{case.id}/phone", htmx=True).status_code == 200
    reveal = _audit_rows("phone.reveal")[-1]
    assert reveal.actor_name == "wangge01" and reveal.object == f"case:{case.id}" and reveal.outcome == "ok"
    assert "138" not in reveal.details
    assert login_as("wuye01").post(f"/cases/{case.id}/phone", htmx=True).status_code in (403, 404)
    supervisor = login_as("jiedao")
    assert supervisor.get("/reports/export.csv").status_code == 200
    assert supervisor.get("/reports/export.xlsx").status_code == 200
    listing = supervisor.get("/reports/cases.csv?figure=received")
    assert listing.status_code == 200 and listing.text.startswith("\ufeff")  # read to the end
    exported = [r.object for r in _audit_rows("export")[-3:]]
    assert exported[0].endswith(".csv") and exported[1].endswith(".xlsx") and exported[2].startswith("cases-")


# ---- the audit table is append-only ---------------------------------------------------------------

def test_postgresql_refuses_update_and_delete_of_audit_rows(app, session):
    if app.backend != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    row = audit.record("login.ok", actor=user("wangge01"))
    db.session.flush()
    for statement in (f"UPDATE audit_entry SET outcome = 'refused' WHERE id = {row.id}",
                      f"DELETE FROM audit_entry WHERE id = {row.id}", "TRUNCATE audit_entry"):
        nested = db.session.begin_nested()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement))
        nested.rollback()
    assert db.session.get(AuditEntry, row.id) is not None


def test_purge_never_removes_audit_rows(app, session):
    audit.record("login.ok", actor=user("wangge01"))
    db.session.commit()
    before = db.session.scalar(select(func.count(AuditEntry.id)))
    result = app.test_cli_runner().invoke(args=["casework", "purge", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count(AuditEntry.id))) == before
    assert audit.first_broken() is None


def test_create_user_applies_the_password_policy(app, session):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["casework", "create-user", "shenji02", "--role", "auditor", "--password", "abc"])
    assert weak.exit_code != 0 and "密码至少需要 10 个字符。" in weak.output
    ok = runner.invoke(args=["casework", "create-user", "shenji02", "--role", "auditor", "--password", GOOD_PASSWORD])
    assert ok.exit_code == 0, ok.output
    assert user("shenji02").role == "auditor"


def test_login_works_when_rate_limiting_is_turned_off(tmp_path):
    """RATELIMIT_ENABLED=False (an operator's choice, e.g. behind a gateway that limits) turns the login
    lock off too: a right password logs in, wrong ones are refused with the form's words, never a 500."""
    from casework.models import Subdistrict
    from case_steps import csrf_token
    from dbtools import app_on
    with app_on(f"sqlite:///{tmp_path / 'nolimit.db'}", tmp_path, RATELIMIT_ENABLED=False) as app:
        with app.app_context():
            db.create_all()
            sd = Subdistrict(name="测试街道")
            staff = User(username="nolimit", display_name="不限流", role="subdistrict_supervisor")
            staff.set_password("Demo-pass-2026")
            db.session.add_all([sd, staff])
            db.session.commit()
        client = app.test_client()
        for _ in range(7):  # more than the lock's 5 (were the lock on)
            page = client.get("/login")
            wrong = client.post("/login", data={"username": "nolimit", "password": "wrong",
                                                "csrf_token": csrf_token(page.text)})
            assert wrong.status_code == 422 and "用户名或密码不正确" in wrong.text
        page = client.get("/login")
        right = client.post("/login", data={"username": "nolimit", "password": "Demo-pass-2026",
                                            "csrf_token": csrf_token(page.text)})
        assert right.status_code == 302
