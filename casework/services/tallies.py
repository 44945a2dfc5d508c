"""The dashboard's rollups (ReportTally, StageTally): what each case contributes, kept up to date.

A case's contribution to every dashboard figure is a pure function of the case row, its timeline
and its approved extensions (`case_tallies`): received on its creation day, answered in time or
not, completed and on time or not against its due day, each call-back close / reopen and each
return on the day it happened, each approved extension on the day it was asked for, each stage end
in the histogram of its stage. Whenever a case changes (intake, every transition) the difference
between its contribution before and after is added to the rollup rows (`record`); an approved
extension adds itself (`extension_approved`, called from `transitions.add_event`). So the rollups
always equal a recomputation from scratch (`expected_rows`), which the tests check. Nothing else
changes these inputs: extensions and parking move `due_at` only while a case is in `handling` (not
completed), when its on-time result is not in the rollup yet (the dashboard counts those cases
live, docs/metrics.md).

Bulk loaders (demo data, the benchmark) compute the same contributions in Python and add them in
one go (`add_rows`); `rebuild` recomputes everything (for a migration or a repair).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select

from casework import events
from casework.extensions import db
from casework.models import Case, CaseEvent, Extension
from casework.models.cases import ReportTally, StageTally

DAY, WEEK = "d", "w"
STAGES = ("reported", "triage", "building_leader", "handling", "resolved")
GOOD_SATISFACTION = ("satisfied", "basically_satisfied")
FIGURE_COLUMNS = ("received", "resp_judged", "resp_ok", "due_judged", "due_ok", "completed", "closes",
                  "rated", "good", "reopens", "returns", "extensions")
FIGURE_KEYS = ("span", "slice", "community_id", "grid_id", "building_id", "category_id", "org_id")
STAGE_KEYS = ("span", "slice", "scope", "scope_id", "stage", "bucket")
# What `case_tallies` reads from a case (a Case row or a dict with these keys).
CASE_FIELDS = ("community_id", "grid_id", "building_id", "category_id", "assigned_org_id", "created_at",
               "responded_at", "response_due_at", "resolved_at", "closed_at", "due_at", "satisfaction")
# ... and from each of its timeline rows (transitions only).
EVENT_FIELDS = ("event", "from_status", "to_status", "created_at", "stage_seconds")

# Bucket widths: 0.1 h up to 10 h, 1 h up to 100 h, 10 h up to 1000 h, then 100 h.
_STEPS = ((36_000, 360), (360_000, 3_600), (3_600_000, 36_000))


def bucket(seconds: int) -> int:
    """Stage time rounded UP to two significant digits of hours, in seconds (0 stays 0)."""
    if seconds <= 0:
        return 0
    step = next((step for limit, step in _STEPS if seconds <= limit), 360_000)
    return -(-seconds // step) * step


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass
class Snapshot:
    """A case's inputs at one moment: its fields and its transitions so far."""

    case: dict
    events: list[dict]


def _keys(case: Mapping) -> tuple:
    return tuple(case[k] for k in ("community_id", "grid_id", "building_id", "category_id", "assigned_org_id"))


def _approved_extensions(case_ids) -> dict[int, list[dt.datetime]]:
    out: dict[int, list[dt.datetime]] = {}
    rows = db.session.execute(select(Extension.case_id, Extension.created_at).where(
        Extension.case_id.in_(list(case_ids)), Extension.kind == "extend", Extension.state == "approved"))
    for case_id, created_at in rows:
        out.setdefault(case_id, []).append(created_at)
    return out


def _figure_keys(case: Mapping) -> tuple:
    return (case["community_id"], case["grid_id"], case["building_id"], case["category_id"],
            case["assigned_org_id"] or 0)


def _count(figures: Counter, keys: tuple, at: dt.datetime, column: str) -> None:
    """One more `column` on the day of `at` and in its ISO week."""
    day = at.date()
    figures[(DAY, day, *keys, column)] += 1
    figures[(WEEK, monday(day), *keys, column)] += 1


def case_tallies(case: Mapping, events: Iterable[Mapping],
                 extensions: Iterable[dt.datetime] = ()) -> tuple[Counter, Counter]:
    """What one case contributes: (figure counts keyed FIGURE_KEYS + column, stage counts keyed STAGE_KEYS).

    `extensions`: when each of its approved extension requests (kind "extend") was made.
    """
    figures: Counter = Counter()
    stages: Counter = Counter()
    keys = _figure_keys(case)
    org = keys[-1]

    def add(at: dt.datetime, column: str) -> None:
        _count(figures, keys, at, column)

    add(case["created_at"], "received")
    if case["responded_at"] is not None and case["response_due_at"] is not None:
        add(case["created_at"], "resp_judged")
        if case["responded_at"] <= case["response_due_at"]:
            add(case["created_at"], "resp_ok")
    completion = case["resolved_at"] or case["closed_at"]
    if completion is not None:
        add(completion, "completed")
        if case["due_at"] is not None:
            add(case["due_at"], "due_judged")
            if completion <= case["due_at"]:
                add(case["due_at"], "due_ok")
    for requested in extensions:
        add(requested, "extensions")
    scopes = [("a", 0), ("g", case["grid_id"])] + ([("o", org)] if org else [])
    for e in events:
        at, source = e["created_at"], e["from_status"]
        figure = _tally_of(e["event"], source)
        if figure == "closes":
            add(at, "closes")
            if case["satisfaction"] is not None:
                add(at, "rated")
                if case["satisfaction"] in GOOD_SATISFACTION:
                    add(at, "good")
        elif figure is not None:
            add(at, figure)
        if source in STAGES and e["to_status"] != source and e["stage_seconds"] is not None:
            b, day = bucket(e["stage_seconds"]), at.date()
            for scope, scope_id in scopes:
                stages[(DAY, day, scope, scope_id, source, b)] += 1
                stages[(WEEK, monday(day), scope, scope_id, source, b)] += 1
    return figures, stages


def _tally_of(event: str, source: str) -> str | None:
    """The figure an event fired from `source` counts in: its spec's `tally` (casework/events.py)."""
    found = events.spec(event)
    if found is None or found.tally is None:
        return None
    figure, only_from = found.tally
    return figure if only_from in (None, source) else None


def _fields(obj, names) -> dict:
    if isinstance(obj, Mapping):
        return {n: obj[n] for n in names}
    return {n: getattr(obj, n) for n in names}


def snapshot(case: Case) -> Snapshot:
    """The case's inputs now (one query for its transitions)."""
    rows = db.session.execute(
        select(*(getattr(CaseEvent, f) for f in EVENT_FIELDS))
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "transition").order_by(CaseEvent.id))
    return Snapshot(_fields(case, CASE_FIELDS), [dict(r._mapping) for r in rows])


def record(case: Case, before: Snapshot | None, new_event: CaseEvent | None) -> None:
    """Add to the rollups the difference the latest change made to the case's contribution."""
    events = list(before.events) if before is not None else []
    if new_event is not None and new_event.kind == "transition":
        events.append(_fields(new_event, EVENT_FIELDS))
    now_case = _fields(case, CASE_FIELDS)
    # Extensions do not change with a transition; they only move when the case's keys do.
    extensions = ([] if before is None or _keys(before.case) == _keys(now_case)
                  else _approved_extensions([case.id]).get(case.id, []))
    figures, stages = case_tallies(now_case, events, extensions)
    if before is not None:
        old_figures, old_stages = case_tallies(before.case, before.events, extensions)
        figures.subtract(old_figures)
        stages.subtract(old_stages)
    add_rows(figures, stages)


def extension_approved(case: Case) -> None:
    """Count the extension request of `case` that has just been approved (called from add_event)."""
    requested = db.session.scalars(
        select(Extension.created_at).where(Extension.case_id == case.id, Extension.kind == "extend",
                                           Extension.state == "approved")
        .order_by(Extension.decided_at.desc(), Extension.id.desc()).limit(1)).first()
    if requested is not None:
        figures: Counter = Counter()
        _count(figures, _figure_keys(_fields(case, CASE_FIELDS)), requested, "extensions")
        add_rows(figures, Counter())


def _insert(table):
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _upsert(table, keys: tuple[str, ...], columns: tuple[str, ...], rows: list[dict]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET c = c + excluded.c, on both databases."""
    if not rows:
        return
    stmt = _insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={c: table.c[c] + stmt.excluded[c] for c in columns})
    db.session.execute(stmt, rows)


def add_rows(figures: Counter, stages: Counter, *, batch: int = 5000) -> None:
    """Add counts (negative ones too) to the rollup rows, creating rows that do not exist yet."""
    by_key: dict[tuple, dict] = {}
    for (*key, column), n in figures.items():
        if n:
            by_key.setdefault(tuple(key), dict.fromkeys(FIGURE_COLUMNS, 0))[column] += n
    # Sorted keys: concurrent transactions lock rows in the same order (no deadlock).
    figure_rows = [dict(zip(FIGURE_KEYS, key, strict=True)) | values for key, values in sorted(by_key.items())]
    stage_rows = [dict(zip(STAGE_KEYS, key, strict=True)) | {"n": n} for key, n in sorted(stages.items()) if n]
    for i in range(0, len(figure_rows), batch):
        _upsert(ReportTally.__table__, FIGURE_KEYS, FIGURE_COLUMNS, figure_rows[i:i + batch])
    for i in range(0, len(stage_rows), batch):
        _upsert(StageTally.__table__, STAGE_KEYS, ("n",), stage_rows[i:i + batch])


def expected_rows(case_ids: Iterable[int] | None = None, chunk: int = 20_000) -> tuple[Counter, Counter]:
    """The rollups recomputed from the cases and their timelines (all cases, or these)."""
    figures: Counter = Counter()
    stages: Counter = Counter()
    query = select(Case.id, *(getattr(Case, f) for f in CASE_FIELDS)).order_by(Case.id)
    if case_ids is not None:
        query = query.where(Case.id.in_(list(case_ids)))
    last = 0
    while True:
        cases = db.session.execute(query.where(Case.id > last).limit(chunk)).all()
        if not cases:
            break
        last = cases[-1].id
        events: dict[int, list[dict]] = {c.id: [] for c in cases}
        rows = db.session.execute(
            select(CaseEvent.case_id, *(getattr(CaseEvent, f) for f in EVENT_FIELDS))
            .where(CaseEvent.kind == "transition", CaseEvent.case_id >= cases[0].id, CaseEvent.case_id <= last)
            .order_by(CaseEvent.case_id, CaseEvent.id))
        for r in rows:
            if r.case_id in events:
                events[r.case_id].append(dict(r._mapping))
        extensions = _approved_extensions(events)
        for c in cases:
            f, s = case_tallies(c._mapping, events[c.id], extensions.get(c.id, ()))
            figures.update(f)
            stages.update(s)
    return figures, stages


def stored_rows() -> tuple[Counter, Counter]:
    """The rollups as stored (zero counts left out), in the shape of `expected_rows`."""
    figures: Counter = Counter()
    for row in db.session.execute(select(ReportTally)).scalars():
        key = tuple(getattr(row, k) for k in FIGURE_KEYS)
        for column in FIGURE_COLUMNS:
            if getattr(row, column):
                figures[(*key, column)] = getattr(row, column)
    stages = Counter({tuple(getattr(row, k) for k in STAGE_KEYS): row.n
                      for row in db.session.execute(select(StageTally)).scalars() if row.n})
    return figures, stages


def add_cases(case_ids: Iterable[int]) -> None:
    """Count cases written without `record` (hand-made test data, a backfill)."""
    add_rows(*expected_rows(case_ids))


def backfill_response() -> None:
    """Set responded_at / response_due_at from each case's first move out of `reported` (migration)."""
    def first(column):
        return (select(column).where(CaseEvent.case_id == Case.id, CaseEvent.kind == "transition",
                                     CaseEvent.from_status == "reported", CaseEvent.to_status != "reported")
                .order_by(CaseEvent.id).limit(1).correlate(Case.__table__).scalar_subquery())

    db.session.execute(Case.__table__.update().values(responded_at=first(CaseEvent.created_at),
                                                      response_due_at=first(CaseEvent.stage_due_at)))


def rebuild() -> None:
    """Recompute both rollups from scratch."""
    db.session.execute(delete(ReportTally))
    db.session.execute(delete(StageTally))
    add_rows(*expected_rows())
