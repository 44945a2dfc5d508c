"""Benchmark: the notices outbox. Not part of the test run.

1. delivery: N (default 10,000) queued notices delivered by ONE worker (`Worker.run_once`, the same
   code as `casework deliver --once`) to a local signed-webhook receiver on 127.0.0.1 (keep-alive
   HTTP/1.1, checks the HMAC, records idempotency keys); reports messages/second;
2. overhead: what the outbox adds to a transition. `hand_on` fired on fresh cases (in their own
   transaction and commit, as a request does) with a bound organisation robot and every handler
   subscribed to mail, against the same with the notice hooks switched off; median per transition.

    .venv/bin/python bench/bench_notices.py                           # SQLite file /tmp/bench_notices.db
    .venv/bin/python bench/bench_notices.py --messages 10000 --transitions 300
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench_notices \\
        .venv/bin/python bench/bench_notices.py
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret"


class Sink:
    """A keep-alive receiver that verifies the signature and counts distinct idempotency keys."""

    def __init__(self):
        self.keys: set[str] = set()
        self.requests = 0
        self.bad = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one packet per answer: no 40 ms delayed-ACK stalls

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers.get("X-Casework-Timestamp", "")
                mac = hmac.new(SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
                sink.requests += 1
                if self.headers.get("X-Casework-Signature") != f"sha256={mac}":
                    sink.bad += 1
                sink.keys.add(self.headers["Idempotency-Key"])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def make_app(url: str):
    from casework import create_app
    from casework.config import Config
    config = type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    return create_app(config)


def fresh_database(app) -> None:
    from casework.extensions import db
    from casework.services.demo import load_demo
    with app.app_context():
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
        load_demo(cases=60)
        db.session.commit()


def bench_delivery(app, n: int) -> dict:
    from casework.extensions import db
    from casework.models import NoticeChannel
    from casework.services.notices.outbox import enqueue
    from casework.services.notices.worker import Settings, Worker
    sink = Sink()
    with app.app_context():
        ch = NoticeChannel(name="bench", kind="webhook", config={"url": sink.url, "secret": SECRET},
                           rate_per_minute=1_000_000, max_attempts=3)
        db.session.add(ch)
        db.session.commit()
        started = time.perf_counter()
        for i in range(n):
            enqueue(ch, {"title": f"t{i}", "text": f"消息 {i}", "link": "http://casework.local/cases/1"},
                    key=f"bench:{ch.id}:{i}", kind="bench")
            if i % 1000 == 999:
                db.session.commit()
        db.session.commit()
        queued = time.perf_counter() - started
        started = time.perf_counter()
        stats = Worker(Settings(batch=500, record_every=100)).run_once()
        took = time.perf_counter() - started
    assert sink.bad == 0, "bad signatures"
    return {"messages": n, "delivered": stats.delivered, "distinct_keys": len(sink.keys),
            "enqueue_s": queued, "deliver_s": took, "per_second": stats.delivered / took}


def bench_overhead(app, count: int) -> dict:
    from sqlalchemy import event, func, select

    from casework.extensions import db
    from casework.models import Building, Category, NoticeChannel, NoticeSubscription, OutboxMessage, User
    from casework.services import intake, transitions
    from casework.services.notices import handoffs

    def prepare(k: int) -> list:
        """k fresh cases waiting at a building leader, whose next step is hand_on to a property company."""
        cases = []
        b = db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                               .order_by(Building.id)).first()
        staff = next(u for u in db.session.scalars(select(User).where(User.role == "grid_staff")) if b.grid in u.grids)
        leader = next(u for u in db.session.scalars(select(User).where(User.role == "building_leader"))
                      if b in u.buildings)
        cat = db.session.scalars(select(Category).order_by(Category.id)).first()
        for _ in range(k):
            case = intake.create_case(staff, title="bench", description="", category_id=cat.id, building_id=b.id)
            transitions.fire(staff, case, "sign", {}, version=case.version)
            transitions.fire(staff, case, "dispatch", {}, version=case.version)
            cases.append(case)
        db.session.commit()
        return [(c, leader, b.property_company_id) for c in cases]

    statements = [0]

    def tally(*_args, **_kw):
        statements[0] += 1

    def run(items) -> tuple[list[float], list[float], list[int]]:
        """Alternate transitions with the hooks on and off (the machine's load drifts equally on both)."""
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        sql: dict[bool, list[int]] = {True: [], False: []}
        original = handoffs.after_transition
        event.listen(db.engine, "before_cursor_execute", tally)
        try:
            for n, (case, leader, org_id) in enumerate(items):
                on = n % 2 == 0
                transitions.handoffs.after_transition = original if on else (lambda *a, **k: None)
                statements[0] = 0
                t, c = time.perf_counter(), time.process_time()
                transitions.fire(leader, case, "hand_on", {"organisation": str(org_id)}, version=case.version)
                db.session.commit()
                wall[on].append((time.perf_counter() - t) * 1000)
                cpu[on].append((time.process_time() - c) * 1000)
                sql[on].append(statements[0])
        finally:
            transitions.handoffs.after_transition = original
            event.remove(db.engine, "before_cursor_execute", tally)
        return wall, cpu, sql

    with app.app_context():
        b = db.session.scalars(select(Building).where(Building.property_company_id.is_not(None))
                               .order_by(Building.id)).first()
        robot = NoticeChannel(name="org robot", kind="wecom", config={"webhook_url": "http://127.0.0.1:9/?key=k"},
                              organisation_id=b.property_company_id)
        mail = NoticeChannel(name="mail", kind="smtp", config={"host": "127.0.0.1", "sender": "a@b.cn"})
        db.session.add_all([robot, mail])
        db.session.flush()
        for u in db.session.scalars(select(User).where(User.role == "handler")):
            db.session.add(NoticeSubscription(user_id=u.id, channel_id=mail.id, address=f"{u.username}@example.cn"))
        db.session.commit()
        wall, cpu, sql = run(prepare(2 * count))
        queued = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "handoff_org"))
    med = statistics.median
    return {"transitions_each": count, "queued_messages": queued,
            "wall_ms_with": med(wall[True]), "wall_ms_without": med(wall[False]),
            "wall_overhead_ms": med(wall[True]) - med(wall[False]),
            "cpu_ms_with": med(cpu[True]), "cpu_ms_without": med(cpu[False]),
            "cpu_overhead_ms": med(cpu[True]) - med(cpu[False]),
            "sql_with": med(sql[True]), "sql_without": med(sql[False])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--transitions", type=int, default=300)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "sqlite:////tmp/bench_notices.db")
    app = make_app(url)
    fresh_database(app)
    d = bench_delivery(app, args.messages)
    print(json.dumps({"database": app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0], **d}, indent=1))
    o = bench_overhead(app, args.transitions)
    print(json.dumps(o, indent=1))


if __name__ == "__main__":
    main()
