"""Notices that leave the building: channels (robots, mail, webhooks, SMS), who subscribes, and the
outbox the worker delivers from (services/notices)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.timekeeping import now

CHANNEL_KINDS = ("wecom", "dingtalk", "feishu", "smtp", "webhook", "sms")
# Kinds that carry a person's own address (an e-mail, a mobile) rather than one group's robot.
PERSONAL_KINDS = ("smtp", "sms")
OUTBOX_STATUSES = ("pending", "held", "delivered", "dead", "digested")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class NoticeChannel(db.Model):
    """One configured way out: a group robot bound to a community/grid/organisation, an SMTP server,
    a webhook, an SMS gateway. `config` holds the secrets as entered; screens show them masked."""

    __table_args__ = (CheckConstraint(f"kind IN ({_in(CHANNEL_KINDS)})", name="kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(12))
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Vendors' limits honoured by the worker (a group robot takes about 20 a minute).
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=20)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    # A group robot's binding: at most one of these is set (none for a system webhook or a transport).
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id", ondelete="SET NULL"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id", ondelete="SET NULL"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="SET NULL"),
                                                        index=True)
    # An SMS gateway the admin chose as this subdistrict's channel for residents' status texts.
    residents_subdistrict_id: Mapped[int | None] = mapped_column(
        ForeignKey("subdistrict.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    community: Mapped["Community | None"] = relationship()  # noqa: F821
    grid: Mapped["Grid | None"] = relationship()  # noqa: F821
    organisation: Mapped["Organisation | None"] = relationship()  # noqa: F821

    @property
    def personal(self) -> bool:
        return self.kind in PERSONAL_KINDS

    def __str__(self) -> str:
        return self.name


class NoticeSubscription(db.Model):
    """A user's own address on a personal channel (their e-mail on the SMTP channel, their mobile on SMS)."""

    __table_args__ = (db.UniqueConstraint("user_id", "channel_id", name="subscription_once"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notice_channel.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    channel: Mapped[NoticeChannel] = relationship()


class NoticePreference(db.Model):
    """A user's quiet hours (a digest in the morning instead of pings at night) and message language."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    quiet_start: Mapped[dt.time | None] = mapped_column(Time)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time)
    language: Mapped[str] = mapped_column(String(12), default="zh_Hans_CN")


class OutboxMessage(db.Model):
    """One message to one destination, written in the transaction of the change that caused it.

    The worker claims due rows (a lease: `claimed_until`), sends, and records the answer; `key` is
    the idempotency key the receiver sees, so a redelivery after a crash is recognisable.
    """

    __table_args__ = (
        CheckConstraint(f"status IN ({_in(OUTBOX_STATUSES)})", name="status"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(190), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notice_channel.id", ondelete="CASCADE"), index=True)
    destination: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(30), default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(60))
    # The receiver's last answer (status and body, or the network error), for the admin.
    last_answer: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    channel: Mapped[NoticeChannel] = relationship()
    case: Mapped["Case | None"] = relationship()  # noqa: F821
