"""A case, its immutable timeline (CaseEvent), its photos and the notices it raises."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Text,
    UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.timekeeping import now
from casework.workflow import (
    CHANNELS, PRIORITIES, RESOLUTIONS, SATISFACTIONS, STATUSES, CaseWorkflow,
)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def mask_phone(phone: str | None) -> str:
    """138****1234: what staff screens show of a resident's number."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "****" + digits[-4:]


# Numbers a resident may type into free text: mainland mobiles (with an optional +86/86 prefix and
# spaces or dashes between the groups) and landlines with an area code (0xx/0xxx, optionally in
# brackets, a dash or space, 7-8 digits; an extension after it stays readable).
PHONE_IN_TEXT_RE = re.compile(
    r"(?<![\d])(?:(?:\+?86)[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?![\d])"
    r"|(?<![\d])(?:[(（]0\d{2,3}[)）]|0\d{2,3})[\s-]?[2-9]\d{2,3}[\s-]?\d{4}(?![\d])"
)


def _digits(text: str) -> str:
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def phones_in(text: str | None) -> list[str]:
    """The phone numbers written in a free text, as digits (the reveal shows these)."""
    return [_digits(m.group(0)) for m in PHONE_IN_TEXT_RE.finditer(text or "")]


def mask_phones(text: str | None) -> str:
    """The text with every phone number in it masked exactly as `mask_phone` masks the phone field."""
    if not text:
        return text or ""
    return PHONE_IN_TEXT_RE.sub(lambda m: mask_phone(_digits(m.group(0))), text)


# The columns the dashboard groups and scopes cases by.
_GROUP_KEYS = ("community_id", "grid_id", "building_id", "category_id", "assigned_org_id")


class Case(db.Model):
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(STATUSES)})", name="status"),
        CheckConstraint(f"priority IN ({_in(PRIORITIES)})", name="priority"),
        CheckConstraint(f"channel IN ({_in(CHANNELS)})", name="channel"),
        CheckConstraint(f"resolution IS NULL OR resolution IN ({_in(RESOLUTIONS)})", name="resolution"),
        CheckConstraint(f"satisfaction IS NULL OR satisfaction IN ({_in(SATISFACTIONS)})", name="satisfaction"),
        # Boards read one scope and one status at a time, newest first. PostgreSQL indexes do not
        # carry the row id (SQLite's do), so it is included: a page of ids is then an index-only
        # scan even over several grids or buildings (8 -> 2 ms for a building leader; docs/benchmarks.md).
        Index("ix_case_grid_status", "grid_id", "status", "updated_at", postgresql_include=["id"]),
        Index("ix_case_community_status", "community_id", "status", "updated_at", postgresql_include=["id"]),
        Index("ix_case_building_status", "building_id", "status", "updated_at", postgresql_include=["id"]),
        Index("ix_case_org_status", "assigned_org_id", "status", "updated_at", postgresql_include=["id"]),
        # A handler's scope is assigned OR returned organisation: both sides need (org, status, time).
        # The returned side also carries the current organisation, so "returned by us, now elsewhere"
        # is answered from the index alone (the board's ETag and counts; docs/benchmarks.md).
        Index("ix_case_returned_status", "returned_org_id", "status", "updated_at", "assigned_org_id",
              postgresql_include=["id"]),
        # The handler board splits "to sign for" from "in progress" by handler_accepted_at.
        Index("ix_case_org_status_accepted", "assigned_org_id", "status", "handler_accepted_at", "updated_at",
              postgresql_include=["id"]),
        Index("ix_case_status_updated", "status", "updated_at", postgresql_include=["id"]),
        # Handlers' and building leaders' open columns put the soonest stage due time first by
        # default (services/boards/reading._order): a page is then the first entries of one range.
        Index("ix_case_org_status_accepted_due", "assigned_org_id", "status", "handler_accepted_at", "stage_due_at",
              postgresql_include=["id"]),
        Index("ix_case_building_status_due", "building_id", "status", "stage_due_at", postgresql_include=["id"]),
        # Open311 GET requests: newest requested first inside a window, per community or overall.
        Index("ix_case_community_created", "community_id", "created_at"),
        Index("ix_case_created", "created_at"),
        # Hotspots (services/hotspots.py): repeats of a building × category in a rolling window, and
        # problems that came back within a window after a closure.
        Index("ix_case_building_category_created", "building_id", "category_id", "created_at"),
        Index("ix_case_building_category_closed", "building_id", "category_id", "closed_at"),
        # The dashboard's live parts (docs/metrics.md): open cases past their stage's due time, cases
        # still waiting to be signed for, and cases not completed yet, each a small part of the table.
        # PostgreSQL covers the group keys so these are index-only scans.
        Index("ix_case_open_stage_due", "stage_due_at", postgresql_where=text("status <> 'closed'"),
              sqlite_where=text("status <> 'closed'")),
        Index("ix_case_unanswered", "created_at", "stage_due_at", postgresql_where=text("status = 'reported'"),
              sqlite_where=text("status = 'reported'"), postgresql_include=list(_GROUP_KEYS)),
        Index("ix_case_incomplete_due", "due_at",
              postgresql_where=text("resolved_at IS NULL AND closed_at IS NULL"),
              sqlite_where=text("resolved_at IS NULL AND closed_at IS NULL"),
              postgresql_include=list(_GROUP_KEYS)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    channel: Mapped[str] = mapped_column(String(20), default="phone")
    # grid and community are copied from the building so scope filters need no join.
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    unit: Mapped[str] = mapped_column(String(60), default="")
    reporter_name: Mapped[str | None] = mapped_column(String(60))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    # The resident's consent to a text message on each public status change (report form, PIPL):
    # when it was given and the exact words they agreed to. None: no texts are ever sent.
    sms_consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sms_consent_text: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="reported")
    assigned_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    returned_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    via_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    handler_accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(String(20))
    satisfaction: Mapped[str | None] = mapped_column(String(30))
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    stage_started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    # Seams for time limits: the current stage's due time and the whole case's.
    stage_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Parking (挂账) pauses the clock: while parked_at is set, time does not count against the stage.
    parked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Counting time the current stage spent parked (added at each resume), so the time a stage
    # took (case_event.stage_seconds) leaves out the pause, as its due time does.
    stage_paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first move out of `reported` (sign, merge, reject, withdraw) and the sign-for due time it
    # was judged against (its event's stage_due_at): the response rate reads these, not the timeline.
    responded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    response_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    category: Mapped["Category"] = relationship()  # noqa: F821
    building: Mapped["Building"] = relationship()  # noqa: F821
    grid: Mapped["Grid"] = relationship()  # noqa: F821
    community: Mapped["Community"] = relationship()  # noqa: F821
    assigned_org: Mapped["Organisation | None"] = relationship(foreign_keys=[assigned_org_id])  # noqa: F821
    returned_org: Mapped["Organisation | None"] = relationship(foreign_keys=[returned_org_id])  # noqa: F821
    duplicate_of: Mapped[Case | None] = relationship(remote_side=[id])
    created_by: Mapped["User | None"] = relationship()  # noqa: F821
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan", passive_deletes=True
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="case", order_by="Attachment.id", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def workflow(self) -> CaseWorkflow:
        """A machine bound to this row; built on demand because SQLAlchemy skips __init__ on load."""
        return CaseWorkflow(model=self, state_field="status")

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.reporter_phone)

    def phones_in_text(self) -> list[str]:
        """Numbers the resident typed into the case's free text (title, description, unit, name)."""
        found: list[str] = []
        for value in (self.title, self.description, self.unit, self.reporter_name):
            found += [p for p in phones_in(value) if p not in found]
        return found

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def __repr__(self) -> str:
        return f"<Case {self.number} {self.status}>"


class CaseEvent(db.Model):
    """One immutable row of a case's timeline: a transition, an urge, a note, a reveal."""

    __table_args__ = (
        # The dashboard's returns by reason (services/reports/returns.py) read the returns of a period
        # only: a small part of the timeline (PostgreSQL: index-only, with the case and the reason).
        Index("ix_case_event_returns", "created_at", postgresql_where=text("event = 'return_case'"),
              sqlite_where=text("event = 'return_case'"), postgresql_include=["case_id", "reason_code"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="transition")
    event: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # Who acted when no staff account did: "resident" or "system".
    actor_label: Mapped[str | None] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    reason_code: Mapped[str | None] = mapped_column(String(30))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    # Jurisdiction moves (reroute, arbitrate, reassign): the grid the case was in and the grid it
    # went to (equal when it stayed); the dashboard counts re-routes and arbitrations from these.
    from_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    to_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    # Timeliness of the stage this event ended: its due time and the working seconds it took.
    stage_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    stage_seconds: Mapped[int | None] = mapped_column(Integer)
    # Whether the resident's tracking page may show this row (internal notes never are).
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped["User | None"] = relationship()  # noqa: F821
    organisation: Mapped["Organisation | None"] = relationship()  # noqa: F821
    from_grid: Mapped["Grid | None"] = relationship(foreign_keys=[from_grid_id])  # noqa: F821
    to_grid: Mapped["Grid | None"] = relationship(foreign_keys=[to_grid_id])  # noqa: F821


class Extension(db.Model):
    """A handler's request for more time (延期), decided by a community supervisor."""

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'approved', 'refused')", name="state"),
        CheckConstraint("hours > 0", name="hours_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="extend")  # extend / park
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    hours: Mapped[float] = mapped_column(Float, default=1)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    case: Mapped[Case] = relationship()
    requested_by: Mapped["User"] = relationship(foreign_keys=[requested_by_id])  # noqa: F821
    decided_by: Mapped["User | None"] = relationship(foreign_keys=[decided_by_id])  # noqa: F821


class Attachment(db.Model):
    """A photo kept outside static/ under a random name; read through the case's access policy."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(10), default="before")  # before / after
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    case: Mapped[Case] = relationship(back_populates="attachments")


class Escalation(db.Model):
    """One rung of the lateness ladder reached by one stage of a case; makes the sweep idempotent."""

    __table_args__ = (
        UniqueConstraint("case_id", "level", "stage_key", name="escalation_once"),
        CheckConstraint("level IN ('warning', 'urge', 'supervise', 'supervise_subdistrict')", name="level"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(30))
    # The stage's start time identifies the stage: a new stage climbs the ladder afresh.
    stage_key: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Notification(db.Model):
    """An in-app notice to one user (warning, urge, supervise), listed with an unread count."""

    __table_args__ = (UniqueConstraint("user_id", "case_id", "kind", "level_key", name="notification_once"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Makes the sweep idempotent: one notice per (user, case, kind, stage-start).
    level_key: Mapped[str] = mapped_column(String(40), default="")
    message: Mapped[str] = mapped_column(String(300), default="")
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)

    case: Mapped[Case | None] = relationship()


class ReportTally(db.Model):
    """Rollup behind the dashboard: per-case counts, each on the day (and ISO week) it belongs to.

    Maintained by `services/tallies.py` on every intake, transition and extension approval (and by
    the bulk loaders);
    definitions in docs/metrics.md. `span` is "d" (slice = that day) or "w" (slice = the Monday of
    that ISO week), so a period reads whole weeks plus at most 12 single days. `org_id` is the case's
    current handler organisation, 0 for none.
    """

    __table_args__ = (PrimaryKeyConstraint("span", "slice", "community_id", "grid_id", "building_id",
                                           "category_id", "org_id"),)
    span: Mapped[str] = mapped_column(String(1))
    slice: Mapped[dt.date] = mapped_column(Date)
    community_id: Mapped[int] = mapped_column(Integer)
    grid_id: Mapped[int] = mapped_column(Integer)
    building_id: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)      # by created_at
    resp_judged: Mapped[int] = mapped_column(Integer, default=0)   # answered with a due time, by created_at
    resp_ok: Mapped[int] = mapped_column(Integer, default=0)       # answered in time, by created_at
    due_judged: Mapped[int] = mapped_column(Integer, default=0)    # completed, by due_at
    due_ok: Mapped[int] = mapped_column(Integer, default=0)        # completed in time, by due_at
    completed: Mapped[int] = mapped_column(Integer, default=0)     # by completion time
    closes: Mapped[int] = mapped_column(Integer, default=0)        # call-back close events, by event time
    rated: Mapped[int] = mapped_column(Integer, default=0)         # ... whose case carries a rating
    good: Mapped[int] = mapped_column(Integer, default=0)          # ... rated (basically) satisfied
    reopens: Mapped[int] = mapped_column(Integer, default=0)       # call-back reopen events, by event time
    returns: Mapped[int] = mapped_column(Integer, default=0)       # return_case events, by event time
    extensions: Mapped[int] = mapped_column(Integer, default=0)    # approved extensions, by request time


class StageTally(db.Model):
    """Histogram of stage times: how many stage ends per day/week, scope, stage and time bucket.

    `scope` is "a" (the whole subdistrict, scope_id 0), "g" (a grid) or "o" (the case's current
    handler organisation); `bucket` is the stage time rounded up to two significant digits of hours,
    in seconds (`tallies.bucket`). Median and 90th percentile are read from it by cumulative counts.
    """

    # Scope first: a report reads one scope's (or a few grids') rows for a range of slices.
    __table_args__ = (PrimaryKeyConstraint("scope", "scope_id", "span", "slice", "stage", "bucket"),)
    span: Mapped[str] = mapped_column(String(1))
    slice: Mapped[dt.date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(1))
    scope_id: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(20))
    bucket: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer, default=0)


class CaseLink(db.Model):
    """A case that was opened because of others (a proactive case from a hotspot → the cases that formed it)."""

    __tablename__ = "case_link"
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    linked_case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True,
                                                index=True)
    kind: Mapped[str] = mapped_column(String(20), default="hotspot")
