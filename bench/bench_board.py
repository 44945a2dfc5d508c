"""Benchmark: rendering kanban boards with 100,000 cases, in-process and in one gunicorn worker.

Not part of the test run. Builds its own SQLite file (default /tmp/bench.db) with the demo
subdistrict and N generated cases, then:

1. in-process: `GET /board/` through the real app (login, all queries, templates) for each demo
   role, warm, median and p95 of --repeat runs; "cold cards": the same with the rendered-card
   cache emptied before every render (every card through Jinja); the htmx refresh, the 304 poll,
   and the number of SQL statements;
2. gunicorn: one sync worker serving the grid board, RSS of the worker after --requests renders.

    .venv/bin/python bench/bench_board.py                      # builds /tmp/bench.db once (≈1 min)
    .venv/bin/python bench/bench_board.py --cases 100000 --rebuild --repeat 30
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_board \\
        .venv/bin/python bench/bench_board.py

The same database can be built with the CLI instead:
    DATABASE_URL=sqlite:////tmp/bench.db .venv/bin/flask --app wsgi db upgrade
    DATABASE_URL=sqlite:////tmp/bench.db .venv/bin/flask --app wsgi casework demo --cases 100000
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
USERS = ["wangge01", "louzhang01", "wuye01", "shequ01", "jiedao"]


def make_app(url: str):
    from casework import create_app
    from casework.config import Config

    # Flask-SQLAlchemy builds the engine in init_app: the URL must be in the config class itself.
    config = type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    return create_app(config)


def build(app, cases: int, rebuild: bool) -> None:
    from sqlalchemy import func, select

    from casework.extensions import db
    from casework.models import Case
    from casework.services.demo import load_demo

    with app.app_context():
        if rebuild and db.engine.dialect.name == "sqlite":
            # Deleting the file is instant; DROP TABLE with foreign keys on checks every row.
            path = db.engine.url.database
            db.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        elif rebuild:
            db.drop_all()
        db.create_all()
        have = db.session.scalar(select(func.count()).select_from(Case)) or 0
        if have >= cases:
            print(f"database has {have} cases; reusing it (--rebuild to start again)")
            return
        if have:
            raise SystemExit(f"database has {have} cases, fewer than {cases}: use --rebuild")
        started = time.perf_counter()
        load_demo(cases=cases)
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        else:
            # What autovacuum does soon after a bulk load in production: statistics for the planner
            # and the visibility map, without which PostgreSQL cannot answer from an index alone.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"loaded {cases} cases in {time.perf_counter() - started:.1f} s")


def login(client, username: str) -> None:
    token = CSRF_RE.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": "demo", "csrf_token": token})
    assert response.status_code == 302, username


def in_process(app, repeat: int) -> list[tuple]:
    """Median and p95 milliseconds of GET /board/ per role, the 304 poll, and the SQL statement count."""
    from sqlalchemy import event

    from casework.extensions import db

    rows = []
    for username in USERS:
        client = app.test_client()
        login(client, username)
        with app.app_context():
            engine = db.engine
        statements: list[int] = []

        def listener(*_a, _seen=statements, **_k):
            _seen.append(1)
        for _ in range(3):  # warm: templates compiled, caches filled
            page = client.get("/board/")
        times, cpu = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            page = client.get("/board/")
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert page.status_code == 200
        cold = []
        for _ in range(repeat):  # every card rendered afresh: the card cache emptied first
            app.extensions["casework_card_cache"].clear()
            started = time.perf_counter()
            client.get("/board/")
            cold.append((time.perf_counter() - started) * 1000)
        fragments = []
        for _ in range(repeat):  # what the live board fetches when something in scope changed
            started = time.perf_counter()
            client.get("/board/", headers={"HX-Request": "true", "HX-Target": "board"})
            fragments.append((time.perf_counter() - started) * 1000)
        event.listen(engine, "before_cursor_execute", listener)
        client.get("/board/")
        event.remove(engine, "before_cursor_execute", listener)
        tag = page.headers["ETag"]
        polls = []
        for _ in range(repeat):
            started = time.perf_counter()
            assert client.get("/board/", headers={"If-None-Match": tag, "HX-Request": "true",
                                                  "HX-Target": "board"}).status_code == 304
            polls.append((time.perf_counter() - started) * 1000)
        cards = page.text.count('<article id="card-')
        counts = [int(n) for n in re.findall(r'class="bcol-count"[^>]*>(\d+)<', page.text)]
        times.sort()
        rows.append((username, sum(counts), cards, statistics.median(times), times[int(len(times) * 0.95) - 1],
                     statistics.median(cpu), statistics.median(cold), statistics.median(fragments), statistics.median(polls), len(statements),
                     len(page.data) // 1024))
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def gunicorn(url: str, requests: int, username: str = "wangge01") -> tuple[int, int, float]:
    """RSS (kB) of one sync gunicorn worker before and after serving `requests` board renders."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, RATELIMIT_STORAGE_URI="memory://")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                             _NoRedirect())
        for _ in range(100):
            try:
                page = opener.open(base + "/login").read().decode()
                break
            except OSError:
                time.sleep(0.1)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        worker = int(children[0])
        token = CSRF_RE.search(page).group(1)
        data = urllib.parse.urlencode({"username": username, "password": "demo", "csrf_token": token}).encode()
        try:
            opener.open(base + "/login", data=data)
        except urllib.error.HTTPError as exc:
            assert exc.code == 302, exc.code
        before = _rss_kb(worker)
        started = time.perf_counter()
        for _ in range(requests):
            body = opener.open(base + "/board/").read()
        elapsed = (time.perf_counter() - started) * 1000 / requests
        assert b'id="board"' in body
        return before, _rss_kb(worker), elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-gunicorn", action="store_true", help="Only the in-process timings.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench.db")
    app = make_app(url)
    build(app, args.cases, args.rebuild)
    print(f"\n{url}, {args.cases} cases, median of {args.repeat} warm renders\n")
    load = os.getloadavg()[0]
    print(f"(load average when starting: {load:.1f} on {os.cpu_count()} CPUs; CPU ms is this process's own time)\n")
    print("| user | cases on board | cards rendered | page median (ms) | p95 (ms) | CPU median (ms) "
          "| cold cards (ms) | htmx refresh (ms) | 304 poll (ms) | SQL statements | HTML (kB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in in_process(app, args.repeat):
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]:.1f} "
              f"| {r[8]:.1f} | {r[9]} | {r[10]} |")
    if args.no_gunicorn:
        return
    before, after, per_request = gunicorn(url, args.requests)
    print(f"\ngunicorn, 1 sync worker, {args.requests} × GET /board/ as wangge01: "
          f"RSS {before / 1024:.0f} MB after login → {after / 1024:.0f} MB after the renders; "
          f"{per_request:.1f} ms per request over HTTP")


if __name__ == "__main__":
    main()
