"""The delivery worker against real local receivers: delivered rows and the case timeline, retries with
exponential backoff and jitter, Retry-After on 429, timeouts, dead letters with the receiver's last
answer, per-destination rate limits, and a worker killed with SIGKILL mid-batch losing nothing."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import create_engine, func, insert, select, text

from casework import models  # noqa: F401
from casework.extensions import db
from casework.models import CaseEvent, NoticeChannel, OutboxMessage
from casework.services.notices.outbox import enqueue, retry
from casework.services.notices.worker import Settings, TokenBucket, Worker, backoff
from casework.timekeeping import now
from dbtools import BACKENDS, throwaway_database
from tests.notice_receivers import Receiver

CN = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def receivers():
    made = []

    def make(kind="webhook", **kw) -> Receiver:
        kw.setdefault("secret", "s3cret")
        r = Receiver(kind, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def hook(receiver: Receiver, **kw) -> NoticeChannel:
    ch = NoticeChannel(name="市平台", kind="webhook", config={"url": receiver.url, "secret": receiver.secret},
                       rate_per_minute=kw.pop("rate", 6000), max_attempts=kw.pop("max_attempts", 3), **kw)
    db.session.add(ch)
    db.session.flush()
    return ch


def queue(ch: NoticeChannel, n: int, prefix: str = "m", **kw) -> list[OutboxMessage]:
    rows = [enqueue(ch, {"title": f"t{i}", "text": f"第 {i} 条", "link": ""}, key=f"{prefix}:{i}", **kw)
            for i in range(n)]
    db.session.commit()
    return rows


def later(seconds: float):
    """The suite's clock moved on by `seconds`."""
    return time_machine.travel(dt.datetime.now(CN) + dt.timedelta(seconds=seconds), tick=False)


def worker(**kw) -> Worker:
    kw.setdefault("retry_base_seconds", 30)
    return Worker(Settings(**kw))


def test_delivers_and_records_on_the_case_timeline(session, receivers, make_case):
    r = receivers()
    ch = hook(r)
    case = make_case()
    msg = enqueue(ch, {"title": "【催办】", "text": "已超时", "link": "http://x/cases/1"}, key="k1", case_id=case.id,
                  kind="urge")
    db.session.commit()
    stats = worker().run_once()
    assert stats.delivered == 1
    db.session.expire_all()
    assert (msg.status, msg.attempts, msg.claimed_until) == ("delivered", 1, None)
    assert "HTTP 200" in msg.last_answer
    assert r.keys == {"k1": 1}
    assert r.received[0]["body"]["text"] == "已超时"
    row = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.event == "notice_sent")).one()
    assert (row.note, row.public) == ("市平台", False)
    assert "s3cret" not in row.note


def test_500_retries_with_backoff_then_dead_letter_keeps_the_last_answer(session, receivers):
    r = receivers(mode="500")
    ch = hook(r, max_attempts=3)
    (msg,) = queue(ch, 1)
    w = worker(retry_base_seconds=30)
    start = now()
    assert w.run_once().failed == 1
    db.session.expire_all()
    assert (msg.status, msg.attempts) == ("pending", 1)
    first_delay = (msg.next_attempt_at - start).total_seconds()
    assert 15 <= first_delay <= 45  # 30 s ± 50 % jitter
    assert w.run_once().failed == 0  # not due yet: nothing is sent
    with later(first_delay):
        assert w.run_once().failed == 1
        db.session.expire_all()
        second_delay = (msg.next_attempt_at - now()).total_seconds()
        assert 30 <= second_delay <= 90  # doubled
    with later(first_delay + second_delay):
        assert w.run_once().dead == 1
    db.session.expire_all()
    assert (msg.status, msg.attempts) == ("dead", 3)
    assert "HTTP 500" in msg.last_answer and "internal error" in msg.last_answer
    # The admin's retry button: a fresh set of attempts, and this time the receiver is back.
    r.mode = "ok"
    retry(msg)
    db.session.commit()
    with later(first_delay + second_delay):
        assert w.run_once().delivered == 1
    assert r.keys == {"m:0": 1}


def test_429_waits_for_retry_after(session, receivers):
    r = receivers(mode="429")
    (msg,) = queue(hook(r), 1)
    start = now()
    worker().run_once()
    db.session.expire_all()
    assert msg.attempts == 1
    assert msg.next_attempt_at == start + dt.timedelta(seconds=30)
    assert "HTTP 429" in msg.last_answer


def test_a_slow_receiver_times_out_and_is_retried(session, receivers):
    r = receivers(delay=1.5)
    (msg,) = queue(hook(r), 1)
    worker(timeout_seconds=0.3).run_once()
    db.session.expire_all()
    assert (msg.status, msg.attempts) == ("pending", 1)
    assert "Timeout" in msg.last_answer


def test_rate_limit_is_honoured_not_discovered(session, receivers):
    r = receivers()
    ch = hook(r, rate=20)  # a group robot: about 20 a minute
    queue(ch, 25)
    stats = worker().run_once()
    assert (stats.delivered, stats.postponed) == (20, 5)
    assert len(r.received) == 20
    waiting = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel_id == ch.id,
                                                             OutboxMessage.status == "pending")).all()
    assert len(waiting) == 5
    assert all(m.attempts == 0 and m.next_attempt_at > now() for m in waiting)


def test_token_bucket_refills_at_the_rate():
    bucket = TokenBucket(60)  # one a second
    assert all(bucket.take() == 0 for _ in range(60))
    wait = bucket.take()
    assert 0 < wait <= 1.0
    bucket.stamp -= 2  # two seconds pass
    assert bucket.take() == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    for attempt, centre in ((1, 10), (2, 20), (3, 40), (4, 80)):
        values = [backoff(attempt, 10, 1000) for _ in range(200)]
        assert min(values) >= centre * 0.5 and max(values) <= centre * 1.5
        assert len(set(values)) > 1  # jitter: workers do not retry in lockstep
    assert max(backoff(30, 10, 1000) for _ in range(50)) <= 1500


def test_a_switched_off_channel_does_not_send(session, receivers):
    r = receivers()
    ch = hook(r, max_attempts=1)
    (msg,) = queue(ch, 1)
    ch.active = False
    db.session.commit()
    worker().run_once()
    db.session.expire_all()
    assert msg.status == "dead" and "switched off" in msg.last_answer
    assert r.received == []


# ---- killing the worker --------------------------------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def worker_database(request, tmp_path):
    """A database of its own for worker subprocesses (the suite's is inside a test transaction)."""
    with throwaway_database(request.param, tmp_path, "outbox") as url:
        yield url


def start_worker(url: str, log: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi", "SECRET_KEY": "worker-test-key"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "casework", "deliver", *args],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_kill_9_mid_batch_loses_nothing_and_repeats_only_same_keys(real_clock, receivers, worker_database, tmp_path):
    n = 200
    r = receivers(delay=0.01)  # slow enough that the kill lands mid-batch
    engine = create_engine(worker_database)
    db.metadata.create_all(engine)
    with engine.begin() as conn:
        channel_id = conn.execute(insert(NoticeChannel).values(
            name="hook", kind="webhook", config={"url": r.url, "secret": r.secret}, active=True,
            rate_per_minute=100000, max_attempts=5, created_at=dt.datetime(2026, 1, 1)).returning(NoticeChannel.id)
        ).scalar_one()
        conn.execute(insert(OutboxMessage), [dict(
            key=f"kill:{i}", channel_id=channel_id, destination="", kind="test", emergency=False,
            payload={"title": str(i), "text": f"message {i}", "link": ""}, status="pending", attempts=0,
            next_attempt_at=dt.datetime(2026, 1, 1), created_at=dt.datetime(2026, 1, 1), last_answer="",
        ) for i in range(n)])
    args = ("--batch", "40", "--lease", "2", "--interval", "0.1")
    log = tmp_path / "worker.log"
    first = start_worker(worker_database, log, *args)
    try:
        assert wait_for(lambda: len(r.received) >= 60, 60), log.read_text()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        sent_before_kill = len(r.received)
        with engine.connect() as conn:
            delivered = conn.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.status == "delivered"))
            in_flight = conn.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending", OutboxMessage.claimed_until.is_not(None)))
        assert sent_before_kill < n
        assert delivered < n and in_flight > 0  # killed holding a claimed batch, some of it already sent
    finally:
        if first.poll() is None:
            first.kill()
    second = start_worker(worker_database, log, *args)
    try:
        def all_delivered():
            with engine.connect() as conn:
                return conn.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status == "delivered")) == n
        assert wait_for(all_delivered, 90), log.read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert set(r.keys) == {f"kill:{i}" for i in range(n)}  # nothing lost
    repeated = {k: c for k, c in r.keys.items() if c > 1}
    # Only what was in flight at the kill arrives twice, always with the same key: a receiver that
    # honours the key counts each message once.
    assert len(r.received) == n + sum(c - 1 for c in repeated.values())
    assert len(repeated) <= 40
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM outbox_message WHERE claimed_until IS NOT NULL")) == 0
    engine.dispose()
