"""Configuration that shapes cases: categories, priorities and the holiday overrides."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casework.extensions import db
from casework.workflow import PRIORITIES


class Category(db.Model):
    __table_args__ = (
        CheckConstraint(f"default_priority IN ({', '.join(repr(p) for p in PRIORITIES)})", name="default_priority"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    default_priority: Mapped[str] = mapped_column(String(20), default="normal")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    def label(self, locale: str) -> str:
        return self.name_en if str(locale).startswith("en") else self.name_zh


class HolidayOverride(db.Model):
    """An admin's word on one date: a holiday or a working day the package does not know."""

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(120), default="")

# Each open status is one stage with its own clock; "case" is the whole case's limit.
STAGES = ("sign", "dispatch", "leader", "handling", "callback", "case")
# A case waiting for arbitration runs on the dispatch limit: the supervisor decides who handles it,
# which is a dispatch decision (docs/metrics.md, "Jurisdiction moves").
STAGE_OF_STATUS = {"reported": "sign", "triage": "dispatch", "building_leader": "leader", "arbitration": "dispatch",
                   "handling": "handling", "resolved": "callback"}


class TimeLimit(db.Model):
    """How long a stage may take, per category (NULL = any) × priority; working hours unless wall clock."""

    __table_args__ = (
        CheckConstraint(f"priority IN ({', '.join(repr(p) for p in PRIORITIES)})", name="priority"),
        CheckConstraint(f"stage IN ({', '.join(repr(s) for s in STAGES)})", name="stage"),
        CheckConstraint("hours > 0", name="hours_positive"),
        UniqueConstraint("category_id", "priority", "stage", name="one_rule"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    priority: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    hours: Mapped[float] = mapped_column(Float)
    wall_clock: Mapped[bool] = mapped_column(Boolean, default=False)


class Setting(db.Model):
    """Small admin-editable settings (working hours, escalation delays) as key → text."""

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(300))
