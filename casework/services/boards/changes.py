"""Per-scope change counters: every committed change a board could show bumps the counters of the
places and organisations it touches, in the writer's own transaction; a board's poll reads the
viewer's counters by primary key (one statement) instead of aggregating cases.

The single choke point is the ORM session, not the services: whatever writes a case (a
transition, an urge, an extension, a merge, intake, the sweep, a building moved to another grid,
a future feature) goes through a flush, and `_collect` (after every flush) notes the scope keys of
every case row inserted, changed or deleted, with its values before *and* after (a case moved to
another grid or handed to another organisation leaves one board and enters another), and of the
case behind every row that hangs off a case (timeline, photos, extensions, escalations, links,
assisting parts). An organisation with an assisting part (协办) in a case sees it on its board, so
every change of such a case also bumps that organisation's counter: `_bump` reads the touched
cases' columns together with their assisting organisations in one statement.
Rows every board shows a part of (names of places, categories, organisations; the working
calendar and settings behind due badges) bump the "epoch" key, which every board reads; so does
any bulk statement run on the case table through the session (`_bulk`), since which cases it
touched is unknown.

`_bump`, just before the commit, flushes what is pending and adds 1 to every noted counter in one
statement, the keys sorted: two transactions lock the rows they share in the same order (no
deadlock), and only from their last statement to their commit (no long queue on a busy
community's row). A rolled-back transaction bumps nothing.

What must stay equal: (1) `access.Jurisdiction.counter_keys` and `access.case_counter_keys` (the
viewer's keys meet the keys of every case it may see; tests/test_poll.py checks it); (2) every
change a card, a column or a count shows is a row of `Case`, of `CASE_CHILDREN` or of `EPOCH_MODELS`
written through a session (a Core statement on another table that changes what boards show
must bump too: call `note_epoch(session)`); otherwise a poll answers 304 over a changed board.
Time alone (ages, due badges, the overdue filter, the 7-day closed window) moves the ETag
through its clock bucket, as before.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, event, inspect, or_, select
from sqlalchemy.orm import Session

from casework.access import CASE_COUNTER_COLUMNS, Jurisdiction, case_counter_keys
from casework.models import (
    Attachment, Building, Case, CaseAssist, CaseEvent, CaseLink, Category, Community, Escalation, Extension, Grid,
    HolidayOverride, Organisation, ScopeCounter, Setting, TimeLimit,
)

EPOCH = ("epoch", 0)
# Rows whose change shows on a case's card or timeline stage although the case row may not change.
CASE_CHILDREN = (CaseEvent, Attachment, Extension, Escalation, CaseLink, CaseAssist)
# Rows whose change shows on every board: names on cards, the calendar and limits behind due badges.
EPOCH_MODELS = (Category, Building, Grid, Community, Organisation, HolidayOverride, Setting, TimeLimit)

_KEYS = "casework_scope_keys"       # session.info: the counter keys to bump at commit
_CASES = "casework_scope_case_ids"  # session.info: cases whose keys are still to be read


def note_epoch(session: Session) -> None:
    """Every board changes at this commit (for writers that bypass the ORM on shown tables)."""
    session.info.setdefault(_KEYS, set()).add(EPOCH)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    """Note the counters of every case (and case child, and shown name) this flush wrote."""
    keys: set = session.info.setdefault(_KEYS, set())
    pending: set = session.info.setdefault(_CASES, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Case):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue
            state = inspect(obj)
            now = {name: getattr(obj, name) for name in CASE_COUNTER_COLUMNS}
            before = {name: (state.attrs[name].history.deleted or [None])[0] for name in CASE_COUNTER_COLUMNS}
            keys |= case_counter_keys(now) | case_counter_keys(before)
            if obj.id is not None:  # its assisting organisations' boards show it too (read in _bump)
                pending.add(obj.id)
        elif isinstance(obj, CASE_CHILDREN):
            if isinstance(obj, CaseAssist) and obj.organisation_id is not None:
                keys.add(("org", obj.organisation_id))  # also when the part is deleted
            for case_id in {getattr(obj, "case_id", None), getattr(obj, "linked_case_id", None)}:
                if case_id is not None:
                    pending.add(case_id)
        elif isinstance(obj, EPOCH_MODELS):
            keys.add(EPOCH)


@event.listens_for(Session, "do_orm_execute")
def _bulk(state) -> None:
    """A bulk INSERT/UPDATE/DELETE on the case table (purge, backfill, bulk data): every board changes."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) == Case.__tablename__:
            note_epoch(state.session)


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    """Add 1 to every counter this transaction touched, in one statement, as its last write."""
    if not session.info.get(_KEYS) and not session.info.get(_CASES) and not (session.new or session.dirty
                                                                            or session.deleted):
        return
    session.flush()
    keys: set = session.info.pop(_KEYS, set())
    case_ids = session.info.pop(_CASES, set())
    if case_ids:
        keys |= _case_keys(session, case_ids)
    if keys:
        _upsert(session, sorted(keys))


def _case_keys(session: Session, case_ids: Iterable[int]) -> set:
    """The counter keys of these cases as they are in the database, their assisting organisations'
    included: one statement."""
    columns = [getattr(Case, name) for name in CASE_COUNTER_COLUMNS]
    out: set = set()
    stmt = (select(*columns, CaseAssist.organisation_id).select_from(Case)
            .outerjoin(CaseAssist, CaseAssist.case_id == Case.id).where(Case.id.in_(sorted(case_ids))))
    for *row, assisting in session.execute(stmt):
        out |= case_counter_keys(dict(zip(CASE_COUNTER_COLUMNS, row, strict=True)))
        if assisting is not None:
            out.add(("org", assisting))
    return out


def _upsert(session: Session, keys: list[tuple[str, int]]) -> None:
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(ScopeCounter).values([{"kind": k, "id": i, "value": 1} for k, i in keys])
    session.execute(stmt.on_conflict_do_update(index_elements=["kind", "id"],
                                               set_={"value": ScopeCounter.__table__.c.value + 1}))


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A transaction that ended without committing (rolled back) bumps nothing."""
    if transaction.parent is None:
        session.info.pop(_KEYS, None)
        session.info.pop(_CASES, None)


def read(j: Jurisdiction) -> tuple:
    """The viewer's counters and the epoch, by primary key: one statement, ((kind, id, value), ...)."""
    wanted: dict[str, list] = {}
    for kind, i in j.counter_keys():
        wanted.setdefault(kind, []).append(i)
    conds = [and_(ScopeCounter.kind == EPOCH[0], ScopeCounter.id == EPOCH[1])]
    for kind, ids in wanted.items():
        if None in ids:  # every row of the kind (the subdistrict: every community)
            conds.append(ScopeCounter.kind == kind)
        else:
            conds.append(and_(ScopeCounter.kind == kind, ScopeCounter.id.in_(ids)))
    from casework.extensions import db
    stmt = (select(ScopeCounter.kind, ScopeCounter.id, ScopeCounter.value).where(or_(*conds))
            .order_by(ScopeCounter.kind, ScopeCounter.id))
    return tuple(tuple(row) for row in db.session.execute(stmt))


def keys_of(cases: Iterable) -> set:
    """The counter keys of these cases as they are in the database, assisting organisations
    included (tests and tools)."""
    from casework.extensions import db
    return _case_keys(db.session, [c.id for c in cases])
