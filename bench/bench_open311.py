"""Benchmark: Open311 `GET requests.json` (1,000 requests) over many cases, on PostgreSQL.

Not part of the test run. Builds its own database (default casework_bench_o311 on the local
PostgreSQL; created when missing) with the demo subdistrict and N generated cases (the generator
spreads them over the last 60 days, so every case is inside the default 90-day window and the
answer is always a full 1,000), issues two read keys, then times through the real app:

1. in-process (Flask test client, whole stack: key check, query, JSON) for an all-communities key
   and a one-community key: the default window, `status=open`, a `service_code`, and page 5;
2. over HTTP (werkzeug in a thread, urllib): the default request, median and p95;
3. EXPLAIN ANALYZE of the default query.

    .venv/bin/python bench/bench_open311.py --cases 100000
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_o311 \\
        .venv/bin/python bench/bench_open311.py --cases 1000000 --rebuild
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_o311"


def ensure_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def make_app(url: str):
    from casework import create_app
    from casework.config import Config

    config = type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    return create_app(config)


def build(app, cases: int, rebuild: bool) -> None:
    from sqlalchemy import func, select

    from casework.extensions import db
    from casework.models import Case
    from casework.services.demo import generate_cases, load_demo

    with app.app_context():
        if rebuild:
            db.drop_all()
        db.create_all()
        have = db.session.scalar(select(func.count()).select_from(Case)) or 0
        if have >= cases:
            print(f"database has {have} cases; reusing it (--rebuild to start again)")
            return
        started = time.perf_counter()
        if not have:
            load_demo(cases=0)
            db.session.commit()
        left = cases - have
        while left > 0:  # in slices, so memory stays flat and progress shows
            n = min(left, 100_000)
            generate_cases(n, seed=left)
            db.session.commit()
            left -= n
            print(f"  {cases - left} cases ({time.perf_counter() - started:.0f} s)", flush=True)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"loaded {cases - have} cases in {time.perf_counter() - started:.1f} s")


def keys(app) -> dict[str, str]:
    from sqlalchemy import select

    from casework.extensions import db
    from casework.models import Community
    from casework.services import apikeys

    with app.app_context():
        community = db.session.scalars(select(Community).order_by(Community.id)).first()
        everything = apikeys.issue_key(None, name="bench all", community_ids=[], all_communities=True,
                                       can_write=False, expires_at=None).plaintext
        one = apikeys.issue_key(None, name="bench one", community_ids=[community.id], all_communities=False,
                                can_write=False, expires_at=None).plaintext
        db.session.commit()
    return {"all communities": everything, "one community": one}


def timed(call, repeat: int) -> tuple[float, float, float]:
    """Median and p95 wall milliseconds, and the median CPU milliseconds of this process (the app's
    own work, which other load on a shared machine does not inflate the way it inflates wall time)."""
    for _ in range(3):
        call()
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    app = make_app(url)
    build(app, args.cases, args.rebuild)
    issued = keys(app)
    client = app.test_client()
    with app.app_context():
        from sqlalchemy import func, select

        from casework.extensions import db
        from casework.models import Case
        total = db.session.scalar(select(func.count()).select_from(Case))
    print(f"\n{total} cases on {url.rsplit('@', 1)[-1]}; GET /open311/v2/requests.json, {args.repeat} runs\n")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| key | query | format | requests returned | median ms | p95 ms | app CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for label, key in issued.items():
        for name, extra in (("default (90 days, newest 1,000)", ""), ("status=open", "&status=open"),
                            ("service_code=facilities", "&service_code=facilities"), ("page=5", "&page=5")):
            for fmt in ("json", "xml") if not extra else ("json",):
                path = f"/open311/v2/requests.{fmt}?api_key={key}{extra}"
                answer = client.get(path)
                assert answer.status_code == 200, answer.text[:200]
                count = answer.text.count('"service_request_id"') if fmt == "json" else answer.text.count("<request>")
                median, p95, cpu = timed(lambda p=path: client.get(p), args.repeat)
                print(f"| {label} | {name} | {fmt} | {count} | {median:.1f} | {p95:.1f} | {cpu:.1f} |")

    from werkzeug.serving import make_server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url_all = f"http://127.0.0.1:{port}/open311/v2/requests.json?api_key={issued['all communities']}"
    median, p95, _ = timed(lambda: urllib.request.urlopen(url_all).read(), args.repeat)
    print(f"\nover HTTP (werkzeug, urllib), all-communities key, default query: median {median:.1f} ms, p95 {p95:.1f} ms")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    server.shutdown()

    with app.app_context():
        from casework.models import Community
        from casework.services import open311
        sd = db.session.scalars(select(Community)).first().subdistrict
        query = open311._row_query(sd, None).where(Case.created_at >= func.now() - db.text("interval '90 days'"))
        query = query.order_by(Case.created_at.desc(), Case.id.desc()).limit(1000)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = db.session.execute(db.text(f"EXPLAIN ANALYZE {compiled}")).scalars().all()
        print("\nEXPLAIN ANALYZE (all communities, default window):")
        print("\n".join(plan))


if __name__ == "__main__":
    main()
