"""Rates and counts per group: received, response and on-time rates, resolution, satisfaction,
returns, extensions (docs/metrics.md). Sums over the rollups, plus what depends on "now" counted live."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    func, select,
)

from casework.extensions import db
from casework.models import (
    Case,
)
from casework.models.cases import ReportTally
from casework.services.reports.lists import incomplete_late
from casework.services.reports.scope import Grouping, covered, covered_rollup, in_period, rollup_slices

GOOD_SATISFACTION = ("satisfied", "basically_satisfied")


@dataclass(frozen=True)
class Rate:
    num: int = 0
    den: int = 0

    @property
    def value(self) -> float | None:
        return self.num / self.den if self.den else None

    @property
    def percent(self) -> str:
        """71.4% — or "—" when nothing was judged."""
        return "—" if not self.den else f"{100 * self.num / self.den:.1f}%"

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.num + other.num, self.den + other.den)


@dataclass
class Figures:
    received: int = 0
    response: Rate = field(default_factory=Rate)
    on_time: Rate = field(default_factory=Rate)
    resolution: Rate = field(default_factory=Rate)
    satisfaction: Rate = field(default_factory=Rate)
    returns: int = 0
    extensions: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.received + other.received, self.response + other.response,
                       self.on_time + other.on_time, self.resolution + other.resolution,
                       self.satisfaction + other.satisfaction, self.returns + other.returns,
                       self.extensions + other.extensions)


def tally_figures(user, scope, period, grouping: Grouping) -> dict:
    """Everything the rollup holds, per group: one indexed range of whole weeks and edge days."""
    t = ReportTally
    key = grouping.tally_key().label("k")
    sums = [func.coalesce(func.sum(getattr(t, c)), 0) for c in (
        "received", "resp_judged", "resp_ok", "due_judged", "due_ok", "closes", "reopens", "rated", "good",
        "returns", "extensions")]
    query = select(key, *sums).where(rollup_slices(period, t.span, t.slice), covered_rollup(user, scope))
    if grouping.dim is not None:
        query = query.group_by(key)
    out = {}
    for k, received, r_den, r_num, o_den, o_num, closes, reopens, rated, good, returns, extensions in (
            db.session.execute(query)):
        out[k] = Figures(received=received, response=Rate(r_num, r_den), on_time=Rate(o_num, o_den),
                         resolution=Rate(closes, closes + reopens), satisfaction=Rate(good, rated),
                         returns=returns, extensions=extensions)
    return out


def live_figures(user, scope, period, at, grouping: Grouping) -> dict:
    """What depends on "now", per group: counted on the few cases not answered / not completed yet."""
    key = grouping.case_key().label("k")
    where = covered(user, scope)

    def grouped(query):
        return query if grouping.dim is None else query.group_by(key)

    out: dict = {}
    # Still waiting to be signed for, and the sign-for due time has passed: judged, late.
    unanswered = grouped(select(key, func.count()).where(
        where, Case.status == "reported", in_period(Case.created_at, period), Case.stage_due_at < at))
    for k, n in db.session.execute(unanswered):
        out[k] = out.get(k, Figures()) + Figures(response=Rate(0, n))
    # Not completed, and the whole-case due time (in the period) has passed: judged, late.
    overdue = grouped(select(key, func.count()).where(where, in_period(Case.due_at, period), incomplete_late(at)))
    for k, n in db.session.execute(overdue):
        out[k] = out.get(k, Figures()) + Figures(on_time=Rate(0, n))
    return out


def base_figures(user, scope, period, at, grouping: Grouping) -> dict:
    per_base = tally_figures(user, scope, period, grouping)
    for k, live in live_figures(user, scope, period, at, grouping).items():
        k = k or 0 if grouping.base == "organisation" else k  # rollup: org 0; cases: NULL
        per_base[k] = per_base.get(k, Figures()) + live
    # A group left with nothing (its cases moved to another organisation) is not shown.
    return {k: f for k, f in per_base.items() if f != Figures() or grouping.dim is None}


def figures(user, scope, period, at, dim: str | None) -> dict:
    """All figures per group key (a single key 0 when dim is None)."""
    grouping = Grouping(dim)
    return grouping.fold(base_figures(user, scope, period, at, grouping))
