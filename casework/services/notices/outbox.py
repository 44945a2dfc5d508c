"""The outbox: a message is a row written in the caller's transaction; the worker sends it later.

Public entry point for any feature that needs to push something out (notices, Open311 webhooks):

    from casework.services.notices.outbox import enqueue
    enqueue(channel, {"json": {...}}, key="open311:case:42:v7")

Nothing here touches the network, commits, or reads the request.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from casework.extensions import db
from casework.models import NoticeChannel, OutboxMessage
from casework.timekeeping import now

log = logging.getLogger(__name__)
KEY_MAX = 190


def enqueue(channel: NoticeChannel | int, payload: dict, *, key: str, destination: str = "",
            kind: str = "", case_id: int | None = None, user_id: int | None = None,
            emergency: bool = False, held_until: dt.datetime | None = None,
            check_existing: bool = True) -> OutboxMessage | None:
    """Queue one message for `channel` (to `destination` for personal channels) in the current
    transaction; returns None when a message with this idempotency `key` already exists.

    `payload` is what the channel formats: {"title", "text", "link"} for people and robots,
    {"subject", "text", "html"} for mail, or {"json": {...}} sent verbatim by the webhook channel.
    `held_until` keeps it back (quiet hours): it goes out in a digest at that time instead.
    `check_existing=False` skips the lookup for callers whose keys are unique by construction (the
    unique index still refuses a duplicate, failing the caller's transaction).
    """
    channel_id = channel if isinstance(channel, int) else channel.id
    if channel_id is None:  # a channel created in this transaction
        db.session.flush()
        channel_id = channel.id
    key = key[:KEY_MAX]
    if check_existing and _exists(key):
        return None
    at = now()
    row = OutboxMessage(key=key, channel_id=channel_id, destination=destination or "", kind=kind[:30],
                        payload=payload, case_id=case_id, user_id=user_id, emergency=emergency,
                        status="held" if held_until else "pending", attempts=0,
                        next_attempt_at=held_until or at, created_at=at, last_answer="")
    db.session.add(row)
    return row


def _exists(key: str) -> bool:
    """The key is taken already, in the database or earlier in this transaction."""
    for obj in db.session.new:
        if isinstance(obj, OutboxMessage) and obj.key == key:
            return True
    with db.session.no_autoflush:
        return db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None


def retry(message: OutboxMessage) -> None:
    """An admin sends a dead letter again: a fresh set of attempts from now."""
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = now()
    message.claimed_until = None
    log.info("outbox %s: retry requested", message.id)
