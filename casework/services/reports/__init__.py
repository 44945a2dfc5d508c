"""Timeliness figures for supervisors, computed in SQL on SQLite and PostgreSQL.

Definitions live in docs/metrics.md; every function in this package implements one of them, in the
module named after what it answers: `rates` (figures per group), `stages` (time per stage),
`rankings`, `trend` (per week), `returns` (by reason), `lists` (the cases behind a figure); `scope` holds the parameters
and which cases and rollup rows a report covers. Most figures are
sums over the rollups kept by `services/tallies.py` (whole ISO weeks plus the days at either end of
the period); what depends on "now" (cases still unanswered or not completed) and the extensions are
counted live on the small part of the case table they concern. Python only merges per-group rows (a
handful) and fills empty weeks; it never loops over cases.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from casework import access
from casework.services.reports.moves import MoveRow, moves_by_community
from casework.services.reports.assists import AssistRow, assist_rows
from casework.services.reports.lists import FIGURES, OVERDUE_LIMIT, OverdueCase, figure_cases, overdue_cases
from casework.services.reports.rankings import GroupRow, group_labels, ranked, ranking
from casework.services.reports.rates import GOOD_SATISFACTION, Figures, Rate, base_figures, figures
from casework.services.reports.scope import (
    DIMENSION_LABELS, DIMENSIONS, GRID_PICKERS, MAX_YEARS, SUPERVISOR_ROLES, Grouping, Period, Scope, check_scope,
    communities_for, default_dimension, dimensions_for, grids_for, latest_end,
)
from casework.services.reports.returns import ReasonRow, Returns, reason_label, returns_by_reason
from casework.services.reports.stages import STAGE_LABELS, STAGES, StageTime, stage_times, stage_times_live, stage_times_rollup
from casework.services.reports.trend import Week, weekly_trend
from casework.timekeeping import now as clock_now

@dataclass
class Report:
    period: Period
    scope: Scope
    dim: str
    now: dt.datetime
    totals: Figures
    stages: list[StageTime]
    ranking: list[GroupRow]
    weeks: list[Week]
    overdue: list[OverdueCase]
    overdue_total: int
    returns: Returns
    moves: list[MoveRow]
    assists: list[AssistRow] = field(default_factory=list)  # assisting parts per organisation (协办)


def build_report(user: access.Who, period: Period, scope: Scope, dim: str, *, at: dt.datetime | None = None,
                 english: bool = False) -> Report:
    """Everything the dashboard shows, for one user, period, place and grouping."""
    at = at or clock_now()
    user = access.jurisdiction_of(user)
    grouping = Grouping(dim)
    per_base = base_figures(user, scope, period, at, grouping)
    # The base groups (buildings for the leader dimension) partition the cases: they sum to the totals.
    totals = sum(per_base.values(), Figures())
    overdue, overdue_total = overdue_cases(user, scope, at)
    return Report(period=period, scope=scope, dim=dim, now=at, totals=totals,
                  stages=stage_times(user, scope, period),
                  ranking=ranking(user, scope, period, at, dim, english, grouping.fold(per_base)),
                  weeks=weekly_trend(user, scope, period), overdue=overdue, overdue_total=overdue_total,
                  returns=returns_by_reason(user, scope, period, dim, english),
                  moves=moves_by_community(user, scope, period),
                  assists=assist_rows(user, scope, period))


__all__ = [
    "AssistRow", "assist_rows",
    "DIMENSIONS", "DIMENSION_LABELS", "FIGURES", "GOOD_SATISFACTION", "MAX_YEARS", "OVERDUE_LIMIT", "STAGES",
    "STAGE_LABELS", "SUPERVISOR_ROLES", "GRID_PICKERS", "default_dimension",
    "Period", "Scope", "latest_end", "dimensions_for", "communities_for", "grids_for", "check_scope",
    "Rate", "Figures", "figures", "GroupRow", "group_labels", "ranked", "ranking", "StageTime", "stage_times",
    "stage_times_live", "stage_times_rollup", "Week", "weekly_trend", "OverdueCase", "overdue_cases",
    "figure_cases", "Report", "build_report", "Grouping", "ReasonRow", "Returns", "reason_label",
    "returns_by_reason", "MoveRow", "moves_by_community",
]
