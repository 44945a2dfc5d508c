"""How long each stage takes: median and 90th percentile of working time per stage."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger, ColumnElement, Select, and_, case as case_when, cast, false, func, literal, select,
)

from casework import access
from casework.extensions import db
from casework.models import (
    Case, CaseEvent, Grid,
)
from casework.models.cases import StageTally
from casework.services import tallies
from casework.services.reports.scope import Scope, covered, in_period, rollup_slices

# The stages a case passes, in order; the key is the status the stage keeps the case in.
STAGES = ("reported", "triage", "building_leader", "handling", "resolved")
STAGE_LABELS = {"reported": _l("签收"), "triage": _l("研判派单"), "building_leader": _l("楼栋长处理"),
                "handling": _l("承办"), "resolved": _l("回访")}


@dataclass
class StageTime:
    status: str
    count: int
    median_seconds: int
    p90_seconds: int

    @property
    def label(self):
        return STAGE_LABELS[self.status]


def _stage_scope(user: access.Who, scope: Scope) -> ColumnElement[bool]:
    """StageTally rows for the report's cases: one organisation's, some grids', or the whole subdistrict's."""
    t = StageTally
    j = access.jurisdiction_of(user)
    if j.role == "handler":
        return and_(t.scope == "o", t.scope_id == j.organisation_id) if j.organisation_id else false()
    if j.role == "building_leader":
        return false()  # the rollup is kept per grid, not per building
    if scope.grid_id is not None:
        return and_(t.scope == "g", t.scope_id == scope.grid_id)
    if j.sees_all and scope.community_id is None:
        return and_(t.scope == "a", t.scope_id == 0)
    # The grid ids as literals (not a subquery), so each grid's rows are one index range.
    in_community = [Grid.community_id == scope.community_id] if scope.community_id is not None else []
    grids = list(db.session.scalars(select(Grid.id).where(j.grids(), *in_community)))
    return and_(t.scope == "g", t.scope_id.in_(grids))


def _percentiles(histogram) -> Select:
    """Nearest-rank median and p90 per stage from (stage, bucket, n) rows, with window sums."""
    # PostgreSQL sums bigints as numeric: cast back, so that // below stays integer division.
    cum = select(histogram.c.stage, histogram.c.bucket,
                 cast(func.sum(histogram.c.n).over(partition_by=histogram.c.stage, order_by=histogram.c.bucket,
                                                   rows=(None, 0)), BigInteger).label("cum"),
                 cast(func.sum(histogram.c.n).over(partition_by=histogram.c.stage), BigInteger).label("total"),
                 ).subquery("cum")
    # ceil(n * p / 100) in integer arithmetic (// is integer division on both databases).
    median_rank = (cum.c.total * 50 + 99) // 100
    p90_rank = (cum.c.total * 90 + 99) // 100
    return (select(cum.c.stage, func.max(cum.c.total),
                   func.min(case_when((cum.c.cum >= median_rank, cum.c.bucket))),
                   func.min(case_when((cum.c.cum >= p90_rank, cum.c.bucket))))
            .group_by(cum.c.stage))


def stage_times_rollup(user, scope, period) -> list[tuple]:
    """(stage, count, median, p90) from the StageTally histogram."""
    t = StageTally
    histogram = (select(t.stage.label("stage"), t.bucket.label("bucket"), func.sum(t.n).label("n"))
                 .where(rollup_slices(period, t.span, t.slice), _stage_scope(user, scope))
                 .group_by(t.stage, t.bucket).having(func.sum(t.n) > 0).subquery("histogram"))
    return [tuple(row) for row in db.session.execute(_percentiles(histogram))]


def _bucket_sql(seconds):
    """tallies.bucket in SQL: round up to 0.1 h / 1 h / 10 h / 100 h steps (integer arithmetic)."""
    whens = [(seconds <= 0, literal(0))]
    whens += [(seconds <= limit, (seconds + (step - 1)) // step * step) for limit, step in tallies._STEPS]
    return case_when(*whens, else_=(seconds + 359_999) // 360_000 * 360_000)


def stage_times_live(user, scope, period) -> list[tuple]:
    """The same from the timeline rows themselves (the reference the rollup must agree with)."""
    seconds = CaseEvent.stage_seconds
    rows = (select(CaseEvent.from_status.label("stage"), _bucket_sql(seconds).label("bucket"))
            .select_from(CaseEvent).join(Case, Case.id == CaseEvent.case_id)
            .where(covered(user, scope), CaseEvent.kind == "transition", in_period(CaseEvent.created_at, period),
                   seconds.is_not(None), CaseEvent.from_status != CaseEvent.to_status,
                   CaseEvent.from_status.in_(STAGES)).subquery("rows"))
    histogram = (select(rows.c.stage, rows.c.bucket, func.count().label("n"))
                 .group_by(rows.c.stage, rows.c.bucket).subquery("histogram"))
    return [tuple(row) for row in db.session.execute(_percentiles(histogram))]


def stage_times(user, scope, period) -> list[StageTime]:
    """Median and 90th percentile of working time per stage (bucketed, docs/metrics.md), in workflow order."""
    # The histogram rollup is kept per grid, not per building: a building leader's few buildings are
    # read from their timeline rows (the same figures: the tests check both paths agree).
    read = stage_times_live if access.jurisdiction_of(user).role == "building_leader" else stage_times_rollup
    found = {status: StageTime(status, int(n), int(med), int(p90))
             for status, n, med, p90 in read(user, scope, period)}
    return [found[s] for s in STAGES if s in found]
