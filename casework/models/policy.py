"""Configuration that shapes cases: categories, priorities and the holiday overrides."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, String
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

    def label(self, locale: str) -> str:
        return self.name_en if str(locale).startswith("en") else self.name_zh


class HolidayOverride(db.Model):
    """An admin's word on one date: a holiday or a working day the package does not know."""

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(120), default="")
