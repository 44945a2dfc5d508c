"""Users, their role and jurisdiction, and the organisations that handle cases."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from casework.extensions import db

ROLES = (
    "grid_staff", "building_leader", "handler",
    "community_supervisor", "subdistrict_supervisor", "admin",
    # Reads the audit log and nothing else (三员分立: system admin, security admin, auditor).
    "auditor",
)
ORG_KINDS = ("property", "enterprise", "social_group", "individual", "volunteer_team")

user_grids = Table(
    "user_grids", db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True, index=True),
)
user_buildings = Table(
    "user_buildings", db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("building_id", ForeignKey("building.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# The communities a partner, volunteer team or social group serves (a property company serves the
# buildings whose property_company it is).
organisation_communities = Table(
    "organisation_communities", db.metadata,
    Column("organisation_id", ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("community.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Organisation(db.Model):
    """A property company or a community partner that can take cases."""

    __table_args__ = (CheckConstraint(f"kind IN ({_in(ORG_KINDS)})", name="kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(30), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    contact_name: Mapped[str] = mapped_column(String(60), default="")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    communities: Mapped[list["Community"]] = relationship(secondary=organisation_communities)  # noqa: F821

    @property
    def is_partner(self) -> bool:
        return self.kind != "property"

    def __str__(self) -> str:
        return self.name


class User(UserMixin, db.Model):
    """A staff account with exactly one role and the jurisdiction that goes with it."""

    __table_args__ = (CheckConstraint(f"role IN ({_in(ROLES)})", name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    phone: Mapped[str] = mapped_column(String(30), default="")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # A one-time activation code (stored as an HMAC, never in clear) and when it stops working.
    activation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    activation_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    organisation: Mapped[Organisation | None] = relationship()
    community: Mapped["Community | None"] = relationship()  # noqa: F821
    grids: Mapped[list["Grid"]] = relationship(secondary=user_grids)  # noqa: F821
    buildings: Mapped[list["Building"]] = relationship(secondary=user_buildings)  # noqa: F821
    # Part of every session's identity (get_id): a new value ends all of the user's sessions at once
    # (logout, password change, deactivation, a change of role or jurisdiction: services/accounts.py).
    session_token: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    # When the password was last set (UTC): the optional periodic change (PASSWORD_MAX_AGE_DAYS).
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.password_changed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    def get_id(self) -> str:
        """Flask-Login keeps this in the session: the id and the current session token."""
        return f"{self.id}:{self.session_token}"

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated user cannot log in
        return self.active

    def __str__(self) -> str:
        return self.display_name
