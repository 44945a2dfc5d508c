"""Operations over HTTP: /healthz, /metrics, request ids in headers and log lines, JSON logs,
compression with ETags and 304s, and a readable answer when the database is locked or busy."""
from __future__ import annotations

import gzip
import json
import logging
import os
import re
import sqlite3

import brotli
import pytest
from sqlalchemy import create_engine, text

from casework import create_app, observability
from casework.config import TestConfig
from casework.extensions import db
from casework.services import health, transitions

from conftest import user


def fresh_app(url: str, **settings):
    """An app of its own on `url` (the shared fixtures' database is not touched)."""
    config = type("OpsTestConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url, **settings})
    return create_app(config)


def sample(name: str, **labels) -> float:
    return observability.REGISTRY.get_sample_value(name, labels) or 0.0


# ---- /healthz ----------------------------------------------------------------------------------------

def test_healthz_says_ok_only_when_the_schema_is_at_the_migrations_head(tmp_path):
    app = fresh_app(f"sqlite:///{tmp_path / 'h.db'}")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    behind = client.get("/healthz")
    assert behind.status_code == 503
    assert behind.json["database"] == "ok" and behind.json["migrations"] == "behind" and behind.json["ok"] is False
    with app.app_context():  # what `flask db stamp head` records after `flask db upgrade`
        db.session.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        for head in health.migration_heads():
            db.session.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
        db.session.commit()
    ok = client.get("/healthz")
    assert ok.status_code == 200 and ok.is_json
    assert ok.json["ok"] is True and ok.json["migrations"] == "at_head"
    assert ok.json["revision"] == sorted(health.migration_heads())
    assert ok.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in ok.headers


def test_healthz_answers_503_when_the_database_cannot_be_reached(tmp_path):
    app = fresh_app(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "error" and response.json["ok"] is False


def test_healthz_needs_no_login_and_is_not_rate_limited(app, client):
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code in (200, 503) and response.is_json  # the suite's schema is create_all'd
        assert response.json["database"] == "ok"


# ---- request ids and logs ----------------------------------------------------------------------------

def test_every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept(client):
    one, two = client.get("/login"), client.get("/login")
    assert re.fullmatch(r"[0-9a-f]{32}", one.headers["X-Request-ID"])
    assert one.headers["X-Request-ID"] != two.headers["X-Request-ID"]
    assert client.get("/login", headers={"X-Request-ID": "lb-7f3a.42"}).headers["X-Request-ID"] == "lb-7f3a.42"
    assert client.get("/nowhere", headers={"X-Request-ID": "nginx-1"}).headers["X-Request-ID"] == "nginx-1"
    for bad in ("has space", "x" * 200, "semi;colon", "<script>"):
        answered = client.get("/login", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert answered != bad and re.fullmatch(r"[0-9a-f]{32}", answered)


def test_log_lines_written_during_a_request_carry_its_id(login_as, make_case, caplog):
    case = make_case(title="日志里的请求号")
    client = login_as("wangge01")
    caplog.set_level(logging.INFO)
    response = client.post(f"/cases/{case.id}/events/sign", {"version": case.version}, htmx=True,
                           headers={"X-Request-ID": "trace-sign-1"})
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "casework.services.transitions"]
    assert lines and all(r.request_id == "trace-sign-1" for r in lines)
    assert "sign" in lines[-1].getMessage()
    text_line = logging.Formatter(observability.TEXT_FORMAT).format(lines[-1])
    assert "[trace-sign-1]" in text_line


def test_json_log_lines_are_one_object_each_with_the_request_id():
    record = logging.LogRecord("casework.x", logging.WARNING, __file__, 1, "案件 %s 已签收", ("2026-0001",), None)
    record.request_id = "rid-9"
    line = observability.JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "WARNING" and out["logger"] == "casework.x"
    assert out["message"] == "案件 2026-0001 已签收" and out["request_id"] == "rid-9"


def test_log_json_setting_switches_the_handler_to_json(tmp_path):
    fresh_app(f"sqlite:///{tmp_path / 'j.db'}", LOG_JSON=True)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_casework", False)]
    try:
        assert len(ours) == 1 and isinstance(ours[0].formatter, observability.JsonFormatter)
    finally:
        fresh_app(f"sqlite:///{tmp_path / 't.db'}")  # back to text for the rest of the run
    assert not isinstance(ours[0].formatter, observability.JsonFormatter)


# ---- /metrics ----------------------------------------------------------------------------------------

def test_metrics_are_served_to_localhost_and_hidden_from_others(app, client):
    client.get("/login")
    local = client.get("/metrics")
    assert local.status_code == 200 and local.content_type.startswith("text/plain")
    assert 'casework_request_seconds_bucket{endpoint="auth.login"' in local.text
    assert 'casework_requests_total{endpoint="auth.login",method="GET",status="200"}' in local.text
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 404 and "casework_" not in remote.text
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 404, "through a proxy the app is not told about, 127.0.0.1 is the proxy"


def test_metrics_token_lets_a_scraper_in_from_elsewhere(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-token")
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=remote).status_code == 404
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer wrong"}).status_code == 404
    ok = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and "casework_request_seconds" in ok.text


def test_transitions_are_counted_by_event_once_committed(app, session, make_case):
    case = make_case(title="计数")
    before = sample("casework_transitions_total", event="sign")
    transitions.fire(user("wangge01"), case, "sign", {}, version=case.version)
    db.session.rollback()  # not committed: not counted
    assert sample("casework_transitions_total", event="sign") == before
    case = make_case(title="计数二")
    transitions.fire(user("wangge01"), case, "sign", {}, version=case.version)
    db.session.commit()
    assert sample("casework_transitions_total", event="sign") == before + 1
    page = app.test_client().get("/metrics").text
    assert re.search(r'casework_transitions_total\{event="sign"\} \d', page)


def test_metrics_show_how_long_ago_the_sweep_ran(app, session):
    from casework.services.escalation import sweep
    page = app.test_client().get("/metrics").text
    assert "# TYPE casework_last_sweep_age_seconds gauge" in page
    sweep()
    db.session.commit()
    page = app.test_client().get("/metrics").text
    # The suite's clock is frozen: the sweep ran 0 seconds ago.
    assert re.search(r"^casework_last_sweep_age_seconds 0\.0$", page, re.M)


# ---- compression -------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, decompress", [("br", brotli.decompress), ("gzip", gzip.decompress)])
def test_board_goes_out_compressed_and_its_etag_still_gives_304(login_as, encoding, decompress):
    client = login_as("wangge01")
    plain = client.get("/board/")
    packed = client.get("/board/", headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
    assert packed.status_code == 200 and packed.headers["Content-Encoding"] == encoding
    assert "Content-Encoding" not in plain.headers
    body = decompress(packed.data)
    assert body == plain.data and '<section id="board"' in body.decode()
    assert len(packed.data) < 60_000, f"{len(packed.data)} bytes on the wire"
    assert len(packed.data) * 4 < len(plain.data)
    vary = {v.strip() for v in packed.headers["Vary"].split(",")}
    assert {"Accept-Encoding", "HX-Request"} <= vary
    # The browser sends back the ETag it was given ("tag:br"), htmx's poll sends the bare tag.
    tag = packed.headers["ETag"]
    assert tag.endswith(f':{encoding}"') and tag.replace(f":{encoding}", "") == plain.headers["ETag"]
    for sent in (tag, plain.headers["ETag"]):
        again = client.get("/board/", headers={"Accept-Encoding": encoding, "If-None-Match": sent})
        assert again.status_code == 304 and again.data == b""
        assert "Content-Encoding" not in again.headers


def test_small_answers_and_clients_without_compression_get_plain_bytes(client):
    tiny = client.get("/healthz", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in tiny.headers and tiny.is_json
    page = client.get("/login", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in page.headers and "csrf_token" in page.text


# ---- database locked or busy -------------------------------------------------------------------------

@pytest.fixture
def sqlite_app(tmp_path):
    """An app on its own SQLite file with the demo accounts; writers wait 0.3 s for the lock."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    app = fresh_app(url, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.3}})
    with app.app_context():
        db.create_all()
        from casework.services.demo import load_places_and_people
        load_places_and_people()
        db.session.commit()
    yield app, tmp_path / "locked.db"
    with app.app_context():
        db.engine.dispose()


def _login_form(client) -> str:
    from case_steps import csrf_token
    return csrf_token(client.get("/login").text)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_locked_sqlite_database_gives_a_readable_503_not_a_traceback(sqlite_app, htmx):
    app, path = sqlite_app
    client = app.test_client()
    token = _login_form(client)
    other = sqlite3.connect(path, isolation_level=None)  # a second process holding the write lock
    other.execute("BEGIN IMMEDIATE")
    try:
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.post("/login", data={"username": "wangge01", "password": "demo", "csrf_token": token},
                               headers=headers)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert "系统正忙" in response.text and "locked" not in response.text.lower()
        assert "Traceback" not in response.text
        if htmx:
            assert response.headers["HX-Retarget"] == "#alerts" and "<html" not in response.text
    finally:
        other.rollback()
        other.close()
    # The lock released, the same form goes through.
    response = client.post("/login", data={"username": "wangge01", "password": "demo", "csrf_token": token})
    assert response.status_code == 302


def test_readers_are_not_blocked_by_a_held_write_lock(sqlite_app):
    app, path = sqlite_app
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert app.test_client().get("/healthz").json["database"] == "ok"  # WAL: readers go on
    finally:
        other.rollback()
        other.close()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="TEST_DATABASE_URL not set")
def test_a_postgresql_lock_conflict_answers_409_with_a_retry_message(app):
    if app.backend != "postgresql":
        pytest.skip("a PostgreSQL lock timeout")
    url = os.environ["TEST_DATABASE_URL"]
    pg = fresh_app(url)

    @pg.route("/_test/conflict")
    def locked():
        db.session.execute(text("SET LOCAL lock_timeout = '200ms'"))
        db.session.execute(text("SELECT count(*) FROM setting"))
        return "no conflict"

    holder = create_engine(url)
    with holder.connect() as conn:
        conn.execute(text("LOCK TABLE setting IN ACCESS EXCLUSIVE MODE"))
        try:
            response = pg.test_client().get("/_test/conflict")
        finally:
            conn.rollback()
    holder.dispose()
    with pg.app_context():
        db.engine.dispose()
    assert response.status_code == 409
    assert "操作冲突" in response.text and "timeout" not in response.text.lower()


def test_make_run_takes_a_port():
    import shutil
    import subprocess
    from pathlib import Path
    if not shutil.which("make"):
        pytest.skip("make not installed")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["make", "-n", "run", "PORT=5001"], cwd=root, capture_output=True, text=True, timeout=60).stdout
    assert "run --host 127.0.0.1 --port 5001" in out
    default = subprocess.run(["make", "-n", "run"], cwd=root, capture_output=True, text=True, timeout=60).stdout
    assert "--port 5000" in default


def test_metrics_add_up_every_worker_in_multiprocess_mode(tmp_path):
    """Two "workers" (processes) count requests into PROMETHEUS_MULTIPROC_DIR; a third one's /metrics sums them."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    worker = ("from casework import create_app\n"
              "from casework.config import TestConfig\n"
              "import sys\n"
              "app = create_app(type('C', (TestConfig,), {'SQLALCHEMY_DATABASE_URI': sys.argv[1]}))\n"
              "client = app.test_client()\n"
              "for _ in range(int(sys.argv[2])):\n"
              "    assert client.get('/login').status_code == 200\n"
              "if len(sys.argv) > 3:\n"
              "    print(client.get('/metrics').text)\n")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", worker, url, count], cwd=root, env=env, check=True, timeout=120,
                       capture_output=True)
    page = subprocess.run([sys.executable, "-c", worker, url, "0", "show"], cwd=root, env=env, check=True,
                          timeout=120, capture_output=True, text=True).stdout
    line = next(x for x in page.splitlines()
                if x.startswith('casework_requests_total{endpoint="auth.login",method="GET",status="200"}'))
    assert float(line.rsplit(" ", 1)[1]) == 7.0
