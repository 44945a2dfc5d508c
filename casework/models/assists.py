"""Assisting organisations on a case (主办 / 协办): one row per assisting organisation's part.

The lead (主办) is the case's handler organisation (`Case.assigned_org_id`); each assisting
organisation (协办) has one part here: requested by whom and when, due by when (the lead's
stage due time when asked), and how it ended — done by the assisting organisation, or waived by
the lead with a reason when it reported the whole case done without it. Not workflow states: the
case keeps its one status; a part is a side record read by the board, the case page and reports.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.timekeeping import now


class CaseAssist(db.Model):
    """One assisting organisation's part of a case: open, done (done_at) or waived by the lead (waived_at)."""

    __tablename__ = "case_assist"
    __table_args__ = (
        UniqueConstraint("case_id", "organisation_id", name="case_assist_once"),
        CheckConstraint("done_at IS NULL OR waived_at IS NULL", name="one_ending"),
        # The assisting organisation's board column and scope: its parts, by case.
        Index("ix_case_assist_org_case", "organisation_id", "case_id"),
        # Reports: the parts asked for in a period.
        Index("ix_case_assist_requested", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    note: Mapped[str] = mapped_column(Text, default="")
    # The lead's stage due time when the part was asked for: "done on time" is done_at <= due_at.
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    done_note: Mapped[str] = mapped_column(Text, default="")
    # The lead reported the case done without this part, saying why (never both done and waived).
    waived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    waived_reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    case: Mapped["Case"] = relationship()  # noqa: F821
    organisation: Mapped["Organisation"] = relationship()  # noqa: F821
    requested_by: Mapped["User | None"] = relationship(foreign_keys=[requested_by_id])  # noqa: F821
    done_by: Mapped["User | None"] = relationship(foreign_keys=[done_by_id])  # noqa: F821

    @property
    def is_open(self) -> bool:
        return self.done_at is None and self.waived_at is None

    @property
    def state(self) -> str:
        """open / done / waived."""
        return "done" if self.done_at else ("waived" if self.waived_at else "open")

    @property
    def on_time(self) -> bool | None:
        """Whether the part was done by its due time (None: not done, or no due time)."""
        if self.done_at is None or self.due_at is None:
            return None
        return self.done_at <= self.due_at
