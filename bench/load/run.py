"""Run the load model against a real gunicorn and check the outcome (optionally with a fault).

    .venv/bin/python bench/load/run.py                          # 60 s smoke: 2 sync workers, SQLite
    .venv/bin/python bench/load/run.py --fault kill9            # kill -9 one worker after 20 s
    .venv/bin/python bench/load/run.py --fault hup              # gunicorn reload (HUP) after 20 s
    .venv/bin/python bench/load/run.py --duration 900 --users 60   # the 15-minute soak
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_load .venv/bin/python bench/load/run.py

What it does: builds the database once with bench/bench_board.py's generator (the demo subdistrict
plus --cases generated cases; SQLite file /tmp/casework-load.db unless DATABASE_URL is given) and
stamps it at the migrations' head; starts `gunicorn -w 2` on a free 127.0.0.1 port with Prometheus
multiprocess mode; waits for /healthz; runs locust headless (bench/load/locustfile.py) for
--duration seconds; applies the fault; then checks and prints:

- 0 failed requests (no 5xx, no socket errors, no unexpected 4xx) and p50/p95 per request kind;
- every write that answered 2xx is in the database (the timeline row of each event; the case of
  each public report), and no case is half-moved (each case's status equals its last timeline row's);
- the workers' resident memory at the start and the end (flat over a soak);
- after kill -9: a new worker took the dead one's place.

Exit status 0 only if all checks pass. Keep runs short on a shared machine.
"""
from __future__ import annotations

import argparse
import csv
import json
import os

os.environ.setdefault("SECRET_KEY", "bench-only-key")  # the app refuses to start without one
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def prepare(url: str, cases: int, rebuild: bool) -> None:
    """The generated data (reused when present), stamped at the migrations' head for /healthz."""
    import bench_board
    from sqlalchemy import text

    from casework.extensions import db
    from casework.services import health
    app = bench_board.make_app(url)
    bench_board.build(app, cases, rebuild)
    with app.app_context():
        db.session.execute(text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        db.session.execute(text("DELETE FROM alembic_version"))
        for head in health.migration_heads():
            db.session.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
        db.session.commit()
        db.engine.dispose()


def wait_healthy(base: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not become healthy")


def check_writes(url: str, log_path: Path) -> tuple[int, list[str]]:
    """Every acknowledged write is in the database; no case is half-moved."""
    from sqlalchemy import create_engine, text
    problems = []
    lines = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    engine = create_engine(url)
    with engine.connect() as conn:
        for w in lines:
            if w["kind"] == "event":
                found = conn.scalar(text("SELECT count(*) FROM case_event WHERE case_id = :c AND event = :e"),
                                    {"c": w["case_id"], "e": w["event"]})
                if not found:
                    problems.append(f"acknowledged {w['event']} on case {w['case_id']} is not in the database")
            elif w["kind"] == "report":
                if not conn.scalar(text("SELECT count(*) FROM \"case\" WHERE tracking_code = :c"), {"c": w["code"]}):
                    problems.append(f"acknowledged report {w['code']} is not in the database")
        touched = sorted({w["case_id"] for w in lines if w["kind"] == "event"})
        for case_id in touched:
            status, last = conn.execute(text(
                "SELECT c.status, (SELECT e.to_status FROM case_event e WHERE e.case_id = c.id AND e.to_status IS NOT NULL "
                "ORDER BY e.id DESC LIMIT 1) FROM \"case\" c WHERE c.id = :c"), {"c": case_id}).one()
            if last is not None and status != last:
                problems.append(f"case {case_id} is {status} but its timeline ends in {last} (half a transition)")
    engine.dispose()
    return len(lines), problems


def read_stats(prefix: str) -> tuple[list[dict], list[dict]]:
    with open(prefix + "_stats.csv", newline="") as f:
        stats = list(csv.DictReader(f))
    failures = []
    if os.path.exists(prefix + "_failures.csv"):
        with open(prefix + "_failures.csv", newline="") as f:
            failures = list(csv.DictReader(f))
    return stats, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fault", choices=["none", "kill9", "hup"], default="none")
    parser.add_argument("--fault-at", type=float, default=20, help="seconds after the load starts")
    parser.add_argument("--think", default="3,10", help="staff think time between actions, min,max seconds")
    parser.add_argument("--poll", default="10", help="board poll interval, seconds (the browser's is 10)")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "sqlite:////tmp/casework-load.db")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    prepare(url, args.cases, args.rebuild)
    work = Path(tempfile.mkdtemp(prefix="casework-load-"))
    metrics_dir = work / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATABASE_URL=url, RATELIMIT_STORAGE_URI="memory://",
               RATELIMIT_REPORT="100000 per minute", RATELIMIT_TRACK="100000 per minute",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), LOG_LEVEL="WARNING")
    app_log = open(work / "app.log", "w")  # noqa: SIM115  (closed with the process)
    gunicorn = subprocess.Popen([str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                                 "--log-level", "warning", "--error-logfile", str(work / "gunicorn.log"),
                                 "--graceful-timeout", "10", "wsgi:app"], cwd=ROOT, env=env,
                                stdout=app_log, stderr=subprocess.STDOUT)
    problems: list[str] = []
    try:
        wait_healthy(base)
        workers_before = children(gunicorn.pid)
        rss_start = {pid: rss_mb(pid) for pid in workers_before}
        fault_note = []

        def fault() -> None:
            time.sleep(args.fault_at)
            if args.fault == "kill9":
                victim = children(gunicorn.pid)[0]
                os.kill(victim, signal.SIGKILL)
                fault_note.append(f"kill -9 worker {victim} at {args.fault_at:.0f} s")
            elif args.fault == "hup":
                os.kill(gunicorn.pid, signal.SIGHUP)
                fault_note.append(f"HUP to the gunicorn master at {args.fault_at:.0f} s")
        if args.fault != "none":
            threading.Thread(target=fault, daemon=True).start()

        prefix = str(work / "locust")
        locust_env = dict(os.environ, LOAD_WRITES_LOG=str(work / "writes.jsonl"), LOAD_THINK=args.think,
                          LOAD_POLL_SECONDS=args.poll)
        started = time.time()
        locust = subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "bench" / "load" / "locustfile.py"),
                                 "--headless", "-H", base, "-u", str(args.users), "-r", str(args.spawn_rate),
                                 "-t", f"{args.duration}s", "--csv", prefix, "--only-summary",
                                 "--loglevel", "WARNING", "--stop-timeout", "5"],
                                cwd=ROOT, env=locust_env, capture_output=True, text=True)
        elapsed = time.time() - started
        workers_after = children(gunicorn.pid)
        rss_end = {pid: rss_mb(pid) for pid in workers_after}
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            metrics_text = r.read().decode()
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gunicorn.kill()

    stats, failures = read_stats(prefix)
    print(f"\n{url}: {args.workers} sync workers, {args.users} users, {elapsed:.0f} s, fault: "
          f"{'; '.join(fault_note) or 'none'}\n")
    print("| request | count | failures | req/s | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in stats:
        print(f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | {float(row['Requests/s']):.1f} "
              f"| {row['50%']} | {row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} |")
    total = next(r for r in stats if r["Name"] == "Aggregated")
    # kill -9 takes the requests the worker was answering with it (a sync worker answers one): the
    # client sees the connection close. That many are expected; anything else is a failure.
    in_flight = ("RemoteDisconnected", "ConnectionResetError", "Connection reset", "Connection aborted")
    lost = sum(int(f["Occurrences"]) for f in failures if any(w in f["Error"] for w in in_flight))
    allowed = 1 if args.fault == "kill9" else 0
    for f in failures:
        print(f"  failure: {f['Method']} {f['Name']}: {f['Error']} × {f['Occurrences']}")
    if int(total["Failure Count"]) > min(lost, allowed):
        problems.append(f"{total['Failure Count']} failed requests")
    elif lost:
        print(f"  ({lost} request in flight in the killed worker: expected)")
    if locust.returncode != 0 and problems:
        problems.append(f"locust exited {locust.returncode}")
        print(locust.stderr[-2000:])
    writes, write_problems = check_writes(url, work / "writes.jsonl")
    problems += write_problems
    transitions = sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                      if line.startswith("casework_transitions_total{"))
    print(f"\nacknowledged writes: {writes}, all in the database: {not write_problems}; "
          f"transitions committed (/metrics, all workers): {transitions:.0f}")
    print("worker RSS (MB) start: " + ", ".join(f"{v:.0f}" for v in rss_start.values())
          + " → end: " + ", ".join(f"{v:.0f}" for v in rss_end.values()))
    if args.fault == "kill9":
        replaced = len(workers_after) == args.workers and set(workers_after) != set(workers_before)
        print(f"workers before {workers_before} after {workers_after}: respawned = {replaced}")
        if not replaced:
            problems.append("the killed worker was not replaced")
    app_log.close()
    log = "".join(p.read_text() for p in (work / "gunicorn.log", work / "app.log") if p.exists())
    print(f"gunicorn + app logs: {len(log.splitlines())} lines, {log.count('Traceback')} tracebacks ({work})")
    for p in problems:
        print("PROBLEM:", p)
    if not problems:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
