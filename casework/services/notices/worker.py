"""The delivery worker behind `flask --app wsgi casework deliver [--once]`.

Each round: make the digests that are due (digest.tick), claim a batch of due messages with a lease
(PostgreSQL: FOR UPDATE SKIP LOCKED, so several workers never take the same row; SQLite: the write
lock plus the lease condition), send them one by one honouring each destination's rate limit, and
record what the receivers answered. A worker killed at any point leaves claimed rows whose lease
runs out; the next worker sends them again with the same idempotency key (at-least-once).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import socket
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import bindparam, or_, select, update

from casework.extensions import db
from casework.models import CaseEvent, NoticeChannel, OutboxMessage
from casework.services.notices import channels as channel_registry
from casework.services.notices.channels import Outgoing, Result
from casework.timekeeping import now

log = logging.getLogger(__name__)


@dataclass
class Settings:
    batch: int = 100
    lease_seconds: int = 60
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    record_every: int = 50  # commit results after this many sends (a crash re-sends at most these)
    # Sending threads. Group robots keep their order (one destination's messages go one after
    # another in one thread); webhooks, mail and SMS are sent side by side.
    concurrency: int = 4


# A chat group reads messages in order; these kinds are sent in sequence per destination.
ORDERED_KINDS = ("wecom", "dingtalk", "feishu")


@dataclass
class Stats:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    digests: int = 0

    def add(self, other: Stats) -> None:
        for name in ("delivered", "failed", "dead", "postponed", "digests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (f"delivered={self.delivered} failed={self.failed} dead={self.dead} "
                f"postponed={self.postponed} digests={self.digests}")


class TokenBucket:
    """`rate` messages a minute with bursts up to `rate`, on the monotonic clock (not the wall clock)."""

    def __init__(self, rate_per_minute: int) -> None:
        self.capacity = max(1, rate_per_minute)
        self.tokens = float(self.capacity)
        self.per_second = self.capacity / 60.0
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token: 0 when one was free, else the seconds until the next one."""
        t = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (t - self.stamp) * self.per_second)
        self.stamp = t
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with full-range jitter: base·2^(n-1), capped, times 0.5–1.5."""
    return min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.5)


@dataclass
class _Claimed:
    id: int
    key: str
    channel_id: int
    destination: str
    payload: dict
    kind: str
    case_id: int | None
    attempts: int


@dataclass
class Worker:
    settings: Settings = field(default_factory=Settings)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30):x}")

    def __post_init__(self) -> None:
        self.buckets: dict[tuple[int, str], TokenBucket] = {}
        self.channels: dict[int, tuple[NoticeChannel, channel_registry.Channel]] = {}
        self.pool = ThreadPoolExecutor(self.settings.concurrency) if self.settings.concurrency > 1 else None

    # ---- claiming ------------------------------------------------------------------------------------
    def claim(self) -> list[_Claimed]:
        """Take up to `batch` due messages for this worker (a lease), committed before any is sent."""
        at = now()
        free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < at)
        query = (select(OutboxMessage.id)
                 .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= at, free)
                 .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(self.settings.batch))
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query))
        if not ids:
            db.session.commit()
            return []
        until = at + dt.timedelta(seconds=self.settings.lease_seconds)
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), free)
                           .values(claimed_until=until, claimed_by=self.name)
                           .execution_options(synchronize_session=False))
        rows = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.channel_id, OutboxMessage.destination,
                   OutboxMessage.payload, OutboxMessage.kind, OutboxMessage.case_id, OutboxMessage.attempts)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == self.name,
                   OutboxMessage.claimed_until == until)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)).all()
        db.session.commit()
        return [_Claimed(*row) for row in rows]

    # ---- sending -------------------------------------------------------------------------------------
    def _channel(self, channel_id: int):
        if channel_id not in self.channels:
            row = db.session.get(NoticeChannel, channel_id)
            if row is None:
                return None, None
            self.channels[channel_id] = (row, channel_registry.build(row.kind, dict(row.config or {}),
                                                                     self.settings.timeout_seconds))
        return self.channels[channel_id]

    def _bucket(self, row: NoticeChannel, destination: str) -> TokenBucket:
        key = (row.id, destination)
        bucket = self.buckets.get(key)
        if bucket is None or bucket.capacity != max(1, row.rate_per_minute or 1):
            bucket = self.buckets[key] = TokenBucket(row.rate_per_minute or 1)
        return bucket

    def close(self) -> None:
        self._refresh_channels()
        if self.pool is not None:
            self.pool.shutdown()

    def run_once(self) -> Stats:
        """Deliver everything due now (several batches), then return what happened."""
        from casework.services.notices import digest
        stats = Stats(digests=digest.tick(now()))
        db.session.commit()
        while True:
            claimed = self.claim()
            if not claimed:
                break
            self._refresh_channels()
            stats.add(self._deliver(claimed))
        return stats

    def _refresh_channels(self) -> None:
        """Settings changed by an admin take effect from the next batch."""
        for _row, channel in self.channels.values():
            channel.close()
        self.channels.clear()

    def _deliver(self, claimed: list[_Claimed]) -> Stats:
        """Send a claimed batch in chunks of `record_every`, recording each chunk's answers."""
        stats = Stats()
        step = max(1, self.settings.record_every)
        for start in range(0, len(claimed), step):
            stats.add(self._record(self._send_chunk(claimed[start:start + step])))
        return stats

    def _send_chunk(self, chunk: list[_Claimed]) -> list:
        results: list = [None] * len(chunk)
        ordered: dict[tuple[int, str], list[int]] = defaultdict(list)
        tasks: list[list[int]] = []
        for i, msg in enumerate(chunk):
            row, _channel = self._channel(msg.channel_id)
            if row is None or not row.active:
                results[i] = (msg, row, Result(False, "channel missing or switched off"), 0)
                continue
            wait = self._bucket(row, msg.destination).take()
            if wait > 0:  # over the destination's rate: later, without using up an attempt
                results[i] = (msg, row, None, wait)
            elif row.kind in ORDERED_KINDS:
                ordered[(row.id, msg.destination)].append(i)
            else:
                tasks.append([i])
        tasks.extend(ordered.values())

        def send(indices: list[int]) -> None:
            for i in indices:
                msg = chunk[i]
                row, channel = self.channels[msg.channel_id]
                results[i] = (msg, row, channel.send(Outgoing(msg.id, msg.key, msg.destination, msg.payload,
                                                              msg.kind)), 0)
        if self.pool is None or len(tasks) < 2:
            for task in tasks:
                send(task)
        else:
            list(self.pool.map(send, tasks))
        return results

    # ---- recording -----------------------------------------------------------------------------------
    def _record(self, results) -> Stats:
        """Write what the receivers answered and commit; a delivered case notice joins its timeline."""
        stats = Stats()
        if not results:
            return stats
        at = now()
        updates = []
        for msg, row, result, wait in results:
            if result is None:  # over the destination's rate: later, without using up an attempt
                stats.postponed += 1
                updates.append({"id": msg.id, "claimed_until": None,
                                "next_attempt_at": at + dt.timedelta(seconds=math.ceil(wait))})
                continue
            if result.ok:
                stats.delivered += 1
                updates.append({"id": msg.id, "status": "delivered", "delivered_at": at, "claimed_until": None,
                                "attempts": msg.attempts + 1, "last_answer": result.answer})
                if msg.case_id and msg.kind != "test":
                    db.session.add(CaseEvent(case_id=msg.case_id, kind="notice", event="notice_sent",
                                             actor_label="system", note=row.name if row else "",
                                             public=False, created_at=at))
                continue
            attempts = msg.attempts + 1
            limit = row.max_attempts if row is not None else 1
            if attempts >= limit:
                stats.dead += 1
                updates.append({"id": msg.id, "status": "dead", "claimed_until": None, "attempts": attempts,
                                "last_answer": result.answer})
                log.warning("outbox %s dead after %s attempts: %s", msg.id, attempts, result.answer)
                continue
            stats.failed += 1
            delay = result.retry_after if result.retry_after is not None else backoff(
                attempts, self.settings.retry_base_seconds, self.settings.retry_cap_seconds)
            updates.append({"id": msg.id, "claimed_until": None, "attempts": attempts,
                            "last_answer": result.answer,
                            "next_attempt_at": at + dt.timedelta(seconds=math.ceil(delay))})
        # One executemany per kind of outcome, and only for rows this worker still holds: a row
        # whose lease ran out may already be another worker's.
        table = OutboxMessage.__table__
        shapes: dict[tuple[str, ...], list[dict]] = defaultdict(list)
        for values in updates:
            shapes[tuple(sorted(k for k in values if k != "id"))].append(values)
        for columns, rows in shapes.items():
            statement = (update(table).where(table.c.id == bindparam("b_id"), table.c.claimed_by == self.name)
                         .values({c: bindparam(f"b_{c}") for c in columns}))
            db.session.execute(statement, [{"b_id": v["id"], **{f"b_{c}": v[c] for c in columns}} for v in rows])
        db.session.commit()
        return stats

    def loop(self, interval: float = 2.0, should_stop=lambda: False) -> None:
        """Deliver until told to stop, sleeping `interval` seconds when nothing is due."""
        while not should_stop():
            try:
                stats = self.run_once()
            except Exception:  # a database hiccup must not end the worker; the lease makes retrying safe
                log.exception("delivery round failed")
                db.session.rollback()
                stats = Stats()
            if stats.delivered or stats.failed or stats.dead:
                log.info("deliver: %s", stats)
            if not (stats.delivered or stats.failed or stats.dead):
                time.sleep(interval)
