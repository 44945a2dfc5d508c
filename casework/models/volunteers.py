"""Volunteers (志愿者), their teams, projects, activities, attendance and the append-only ledgers.

Hours are stored as whole minutes and points as whole numbers, so sums are exact on every backend.
A volunteer's balances are columns on the volunteer row, changed in the same transaction as the
ledger row that explains them (`casework ledger-verify` proves they agree).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db

MEMBERSHIP_STATES = ("pending", "approved", "refused")
ACTIVITY_STATES = ("planned", "open", "under_way", "hours_to_confirm", "done")
SIGNUP_STATES = ("signed_up", "cancelled")
LEDGERS = ("hours", "points")
ENTRY_KINDS = ("earned", "redeemed", "expired", "adjusted")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class VolunteerProject(db.Model):
    """A brand or project (品牌/项目) that groups activities, e.g. 家长课堂."""

    __tablename__ = "volunteer_project"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    # Extra points for each confirmed participation in an activity of this project (积分奖励).
    bonus_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __str__(self) -> str:
        return self.name


class VolunteerTeam(db.Model):
    """A volunteer team (志愿服务队) of a community (or of the subdistrict when community is empty).

    Its leader is either a staff account (`leader_user`, e.g. the handler of a volunteer_team
    organisation) or a member flagged `is_leader` on the membership.
    """

    __tablename__ = "volunteer_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    leader_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    community: Mapped["Community | None"] = relationship()  # noqa: F821
    leader_user: Mapped["User | None"] = relationship()  # noqa: F821
    organisation: Mapped["Organisation | None"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return self.name


class Volunteer(db.Model):
    """A registered volunteer: the card code is their only key to their own page."""

    __tablename__ = "volunteer"
    __table_args__ = (
        CheckConstraint("hours_minutes >= 0", name="hours_not_negative"),
        CheckConstraint("points >= 0", name="points_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    card_code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    mobile: Mapped[str] = mapped_column(String(20), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    skills: Mapped[str] = mapped_column(String(200), default="")
    availability: Mapped[str] = mapped_column(String(200), default="")
    consent_text: Mapped[str] = mapped_column(Text)
    consented_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # One person, several hats: a staff account that is also this volunteer.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    # Balances kept with every ledger row (O(1) to read).
    hours_minutes: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    community: Mapped["Community | None"] = relationship()  # noqa: F821

    @property
    def hours(self) -> float:
        return round(self.hours_minutes / 60, 1)

    def __str__(self) -> str:
        return self.name


class TeamMembership(db.Model):
    """A volunteer's request to join a team and the leader's answer."""

    __tablename__ = "team_membership"
    __table_args__ = (
        UniqueConstraint("team_id", "volunteer_id", name="uq_team_membership_team_volunteer"),
        CheckConstraint(f"status IN ({_in(MEMBERSHIP_STATES)})", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    team: Mapped[VolunteerTeam] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class Activity(db.Model):
    """A volunteer activity (活动) with its place, window, capacity and points rule."""

    __tablename__ = "activity"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ACTIVITY_STATES)})", name="status"),
        CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="window"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_project.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"))
    place: Mapped[str] = mapped_column(String(120), default="")
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime)
    signup_deadline: Mapped[dt.datetime] = mapped_column(DateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    # Places taken, changed only by a conditional UPDATE (taken < capacity), so two sign-ups
    # racing for the last place cannot both win.
    taken: Mapped[int] = mapped_column(Integer, default=0)
    points_per_hour: Mapped[int] = mapped_column(Integer, default=10)
    checkin_token: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="planned", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # A community partner's activity (社区合伙人) and the line of its annual plan it carries out.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("partner_plan.id"), index=True)
    # Residents served (服务居民人次), recorded by the organiser once the activity is held.
    residents_served: Mapped[int | None] = mapped_column(Integer)
    team: Mapped[VolunteerTeam] = relationship()
    project: Mapped[VolunteerProject | None] = relationship()
    community: Mapped["Community | None"] = relationship()  # noqa: F821
    partner: Mapped["Organisation | None"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return self.title


class SignUp(db.Model):
    """A volunteer's place on an activity (one row per pair; cancelling keeps the row)."""

    __tablename__ = "activity_signup"
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id", name="uq_activity_signup_activity_volunteer"),
        CheckConstraint(f"status IN ({_in(SIGNUP_STATES)})", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="signed_up")
    signed_up_at: Mapped[dt.datetime] = mapped_column(DateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    activity: Mapped[Activity] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class Attendance(db.Model):
    """Check-in and check-out of one volunteer at one activity; minutes are set on check-out."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id", name="uq_attendance_activity_volunteer"),
        CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    checked_in_at: Mapped[dt.datetime] = mapped_column(DateTime)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    minutes: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    activity: Mapped[Activity] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


class LedgerEntry(db.Model):
    """One append-only row of a volunteer's hours (minutes) or points ledger.

    Never updated or deleted (a mapper event refuses it): a correction is a new row that
    `reverses` the wrong one, with a reason and an approver.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(f"ledger IN ({_in(LEDGERS)})", name="ledger"),
        CheckConstraint(f"kind IN ({_in(ENTRY_KINDS)})", name="kind"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    ledger: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activity.id"), index=True)
    # Hours served on a case (a volunteer team's done report), once the leader confirmed them.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    # A reversing entry names the row it cancels; a row can be reversed once.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entry.id"), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    activity: Mapped[Activity | None] = relationship()
    approver: Mapped["User | None"] = relationship(foreign_keys=[approver_id])  # noqa: F821


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a ledger row."""


@event.listens_for(LedgerEntry, "before_update")
def _no_update(mapper, connection, target) -> None:
    raise AppendOnlyError("ledger rows are append-only: add a reversing entry instead")


@event.listens_for(LedgerEntry, "before_delete")
def _no_delete(mapper, connection, target) -> None:
    raise AppendOnlyError("ledger rows are append-only: add a reversing entry instead")


class Gift(db.Model):
    """A gift in a community's catalogue (积分兑换), with its price in points and its stock."""

    __tablename__ = "gift"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points_cost > 0", name="cost_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    points_cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def __str__(self) -> str:
        return self.name


class Redemption(db.Model):
    """A receipt line: gifts handed out at the service station against a points ledger row."""

    __tablename__ = "redemption"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gift.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    gift: Mapped[Gift] = relationship()


RATING_STATES = ("draft", "published", "confirmed")


class VolunteerRating(db.Model):
    """A volunteer's star rating for one period (e.g. 2026H2), as computed by `casework rate-volunteers`.

    Drafts are recomputed by each run (idempotent); a supervisor reviews and publishes them for a
    public notice, then confirms them, which numbers a certificate.
    """

    __tablename__ = "volunteer_rating"
    __table_args__ = (
        UniqueConstraint("period", "volunteer_id", name="uq_volunteer_rating_period_volunteer"),
        CheckConstraint(f"status IN ({_in(RATING_STATES)})", name="status"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(8), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    preset: Mapped[str] = mapped_column(String(12))
    hours_minutes: Mapped[int] = mapped_column(Integer)
    stars: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Published for a public notice (公示) until notice_ends_at (≥ 5 working days), then confirmed.
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    notice_ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The certificate (荣誉证书) of a confirmed rating, verifiable at /verify/<number>.
    certificate_number: Mapped[str | None] = mapped_column(String(24), unique=True)
    volunteer: Mapped[Volunteer] = relationship()


CASE_HOURS_STATES = ("pending", "confirmed", "refused")


class CaseHours(db.Model):
    """Time a volunteer served on a case, named in a volunteer team's done report (办结反馈).

    It waits for the team leader: confirming writes the hours and points entries; refusing keeps
    the row with the reason. One row per volunteer per done report (a reopened case is reported again).
    """

    __tablename__ = "case_hours"
    __table_args__ = (
        UniqueConstraint("event_id", "volunteer_id", name="uq_case_hours_event_volunteer"),
        CheckConstraint(f"status IN ({_in(CASE_HOURS_STATES)})", name="status"),
        CheckConstraint("minutes > 0", name="minutes_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(String(300), default="")
    case: Mapped["Case"] = relationship()  # noqa: F821
    team: Mapped[VolunteerTeam] = relationship()
    volunteer: Mapped[Volunteer] = relationship()


AGREEMENT_STATES = ("draft", "active", "ended", "terminated")


class PartnerAgreement(db.Model):
    """A community partner's agreement (社区合伙人签约) with one community: period, content, status."""

    __tablename__ = "partner_agreement"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(AGREEMENT_STATES)})", name="status"),
        CheckConstraint("ends_on >= starts_on", name="period"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    signed_on: Mapped[dt.date | None] = mapped_column(Date)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    content: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    organisation: Mapped["Organisation"] = relationship()  # noqa: F821
    community: Mapped["Community"] = relationship()  # noqa: F821


class PartnerPlan(db.Model):
    """One item of a partner's annual activity plan (年度活动计划) with a community: the activity
    carriers (活动载体) it plans for the year, optionally in a given month."""

    __tablename__ = "partner_plan"
    __table_args__ = (
        CheckConstraint("carriers >= 0", name="carriers_not_negative"),
        CheckConstraint("month IS NULL OR month BETWEEN 1 AND 12", name="month"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    month: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    carriers: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    organisation: Mapped["Organisation"] = relationship()  # noqa: F821
    community: Mapped["Community"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return self.title
