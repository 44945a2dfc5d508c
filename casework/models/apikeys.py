"""API keys for client systems (Open311 GeoReport v2) and the link from a case to the request that made it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.timekeeping import now

api_key_communities = Table(
    "api_key_communities", db.metadata,
    Column("api_key_id", ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("community.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class ApiKey(db.Model):
    """One client system's key: only its prefix and a SHA-256 of the whole key are kept.

    The key is shown once when issued. `all_communities` is an explicit choice (an empty community
    list never means "everything"). Times are China-local naive datetimes like the rest of the schema.
    """

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)
    all_communities: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Status pushes to the client: a signed generic-webhook channel of its own (URL + secret).
    webhook_channel_id: Mapped[int | None] = mapped_column(ForeignKey("notice_channel.id", ondelete="SET NULL"))

    communities: Mapped[list["Community"]] = relationship(secondary=api_key_communities)  # noqa: F821
    created_by: Mapped["User | None"] = relationship()  # noqa: F821
    webhook_channel: Mapped["NoticeChannel | None"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class ApiRequest(db.Model):
    """What a GeoReport POST brought besides the case itself: the key, the caller's token and links."""

    __tablename__ = "api_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), index=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    # Stored as the caller gave it; the server never fetches it.
    media_url: Mapped[str] = mapped_column(Text, default="")
    account_id: Mapped[str] = mapped_column(String(120), default="")
    device_id: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    case: Mapped["Case"] = relationship()  # noqa: F821
    api_key: Mapped[ApiKey] = relationship()
