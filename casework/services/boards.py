"""Board queries: the columns each role sees, what is in them, the moves between them, the ETag.

A board is a handful of SQL statements whatever the number of cases: one aggregate for the
ETag, one for the column counts, one UNION ALL for the ids on screen, one for those cases and
three eager loads. Columns are data (a key, a label and a WHERE clause); the moves between
columns are data too (which event leads from one column to another), filtered per card by
``access.events_for`` so a card never offers what the policy refuses.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, and_, bindparam, case as sql_case, func, literal, null, or_, select, union_all,
)

from casework import access
from casework.extensions import db
from casework.models import Building, Case, Category, Grid, Organisation, User
from casework.services import escalation, transitions
from casework.services.errors import Invalid, NotFound, Refused, ServiceError
from casework.services.queries import CaseFilters, apply_filters
from casework.timekeeping import now
from casework.workflow import EVENT_INPUTS, OPEN_STATUSES, STATUSES, CaseWorkflow

log = logging.getLogger(__name__)

PAGE_SIZE = 50
RECENT_DAYS = 7
# Ages and due badges change with the clock, not only with the data: the ETag moves on at least
# this often so a board left open re-renders them.
ETAG_BUCKET_SECONDS = 300

Clause = Callable[[User, dt.datetime], ColumnElement[bool]]


def _status(*statuses: str) -> Clause:
    return lambda user, at: Case.status.in_(statuses) if len(statuses) > 1 else Case.status == statuses[0]


def _cutoff(at: dt.datetime) -> dt.datetime:
    return at - dt.timedelta(days=RECENT_DAYS)


def _closed_recently(user: User, at: dt.datetime) -> ColumnElement[bool]:
    # Closing is a case's last change, so "closed within 7 days" is "closed and last changed within
    # 7 days": the (scope, status, updated_at) indexes answer it without reading a row.
    return and_(Case.status == "closed", Case.updated_at >= _cutoff(at))


def _org(user: User):
    return user.organisation_id if user.organisation_id is not None else -1


def _handler_to_sign(user, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(user), Case.handler_accepted_at.is_(None))


def _handler_in_progress(user, at):
    return and_(Case.status == "handling", Case.assigned_org_id == _org(user),
                Case.handler_accepted_at.is_not(None))


def _handler_resolved(user, at):
    return and_(Case.assigned_org_id == _org(user), Case.status == "resolved")


def _handler_closed_recently(user, at):
    return and_(Case.assigned_org_id == _org(user), Case.status == "closed", Case.updated_at >= _cutoff(at))


def _handler_done(user, at):
    return or_(_handler_resolved(user, at), _handler_closed_recently(user, at))


def _handler_returned(user, at):
    cut = _cutoff(at)
    return and_(Case.returned_org_id == _org(user),
                or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != _org(user)),
                or_(Case.status != "closed", Case.updated_at >= cut))


@dataclass(frozen=True)
class Column:
    """One column of a board: what it is called and which cases (inside the scope) it holds."""

    key: str
    label: object
    where: Clause
    newest_first: bool = False
    # `where` as disjoint clauses, each one index range: a page then merges their first rows
    # instead of sorting the whole column (empty: `where` is one range already).
    parts: tuple[Clause, ...] = ()


GRID_COLUMNS = (
    Column("new", _l("新上报"), _status("reported")),
    Column("triage", _l("网格研判"), _status("triage")),
    Column("leader", _l("在楼栋长"), _status("building_leader")),
    Column("handler", _l("在承办单位"), _status("handling")),
    Column("callback", _l("待回访"), _status("resolved")),
    Column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
LEADER_COLUMNS = (
    Column("mine", _l("待我处理"), _status("building_leader")),
    Column("handed_on", _l("已转交"), _status("handling")),
    Column("callback", _l("待回访"), _status("resolved")),
    Column("closed", _l("近7天办结"), _closed_recently, newest_first=True),
)
HANDLER_COLUMNS = (
    Column("to_sign", _l("待签收"), _handler_to_sign),
    Column("in_progress", _l("办理中"), _handler_in_progress),
    Column("done", _l("已办结反馈"), _handler_done, newest_first=True,
           parts=(_handler_resolved, _handler_closed_recently)),
    Column("returned", _l("已退回"), _handler_returned, newest_first=True),
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "grid_staff": GRID_COLUMNS,
    "building_leader": LEADER_COLUMNS,
    "handler": HANDLER_COLUMNS,
    "community_supervisor": GRID_COLUMNS,
    "subdistrict_supervisor": GRID_COLUMNS,
    "admin": GRID_COLUMNS,
}
TITLES = {
    "grid_staff": _l("网格看板"), "building_leader": _l("楼栋看板"), "handler": _l("承办看板"),
    "community_supervisor": _l("社区督导看板"), "subdistrict_supervisor": _l("街道督导看板"),
    "admin": _l("全部案件看板"),
}


@dataclass(frozen=True)
class Move:
    """Dropping a card of column `source` on column `target` fires `event`.

    `cond`/`unless` name a workflow guard when the event's destination depends on it
    (a call-back "not solved" goes back to the handler only if one did the work).
    """

    source: str
    target: str
    event: str
    cond: str | None = None
    unless: str | None = None


MOVES: dict[str, tuple[Move, ...]] = {
    "grid_staff": (
        Move("new", "triage", "sign"),
        Move("triage", "leader", "dispatch"),
        Move("triage", "handler", "dispatch_handler"),
        Move("triage", "callback", "resolve"),
        Move("callback", "closed", "close"),
        Move("callback", "handler", "reopen", cond="has_handler"),
        Move("callback", "triage", "reopen", unless="has_handler"),
    ),
    "building_leader": (
        Move("mine", "handed_on", "hand_on"),
        Move("mine", "callback", "resolve"),
    ),
    "handler": (
        Move("to_sign", "in_progress", "accept"),
        Move("to_sign", "done", "report_done"),
        Move("in_progress", "done", "report_done"),
        Move("to_sign", "returned", "return_case"),
        Move("in_progress", "returned", "return_case"),
    ),
}


def _guard(name: str, case: Case) -> bool:
    """Evaluate one of the workflow's guards by name against a case, without building a machine."""
    return bool(getattr(CaseWorkflow, name)(SimpleNamespace(model=case)))


def columns_for(user: User) -> tuple[Column, ...]:
    return COLUMNS.get(user.role, ())


def column(user: User, key: str) -> Column | None:
    return next((c for c in columns_for(user) if c.key == key), None)


def column_label(user: User, key: str):
    col = column(user, key)
    return col.label if col else key


# ---------------------------------------------------------------------------------------------
# Reading a board

class MoveOption(NamedTuple):
    """A column this card may be dropped on, the event that fires, and whether it needs a form first."""

    target: str
    event: str
    form: bool


@dataclass
class CardView:
    """What a card shows besides the case itself: the column, the buttons, the drop targets.

    The derived lists are cached: a board's template reads them several times for each of 300 cards.
    """

    case: Case
    column: str
    events: list[str]
    moves: list[MoveOption] = field(default_factory=list)
    pick: str | None = None  # "sign" or "urge" when the card can be ticked for a bulk action

    @cached_property
    def primary(self) -> list[str]:
        """The events that carry the card forward to another column: shown as buttons."""
        forward = {m.event for m in self.moves}
        return [e for e in self.events if e in forward] or self.events[:1]

    @cached_property
    def more(self) -> list[str]:
        """The other events (merge, reject, return, ...): behind "更多…" until asked for."""
        primary = set(self.primary)
        return [e for e in self.events if e not in primary]

    @cached_property
    def drop_targets(self) -> str:
        return " ".join(m.target for m in self.moves)

    @cached_property
    def form_targets(self) -> str:
        return " ".join(m.target for m in self.moves if m.form)


@dataclass
class ColumnView:
    key: str
    label: object
    count: int
    cards: list[CardView]
    page: int = 1   # the last page in `cards`
    first: int = 1  # the first page in `cards` (a board refresh keeps the pages opened with "show more")

    @property
    def has_more(self) -> bool:
        return self.page * PAGE_SIZE < self.count


@dataclass
class Board:
    title: object
    columns: list[ColumnView]
    etag: str
    at: dt.datetime
    names: Names | None = None


def card_view(user: User, case: Case, column_key: str) -> CardView:
    """The buttons and drop targets the policy gives this user on this card now."""
    events = access.events_for(user, case)
    moves = []
    for m in MOVES.get(user.role, ()):
        if m.source != column_key or m.event not in events:
            continue
        if (m.cond and not _guard(m.cond, case)) or (m.unless and _guard(m.unless, case)):
            continue
        moves.append(MoveOption(m.target, m.event, bool(EVENT_INPUTS.get(m.event))))
    pick = None
    if user.role == "grid_staff" and "sign" in events:
        pick = "sign"
    elif access.may_urge(user, case):
        pick = "urge"
    return CardView(case=case, column=column_key, events=events, moves=moves, pick=pick)


def _jurisdiction(user: User) -> list[ColumnElement[bool]]:
    """The user's grids or buildings as literal ids (redundant with the policy's scope clause).

    Redundant, but it lets SQLite and PostgreSQL walk the (grid|building, status, updated_at)
    index for a page of 50 instead of scanning a status across the whole subdistrict (5x faster
    per column on 100,000 cases).
    """
    if user.role == "grid_staff":
        return [Case.grid_id.in_([g.id for g in user.grids])]
    if user.role == "building_leader":
        return [Case.building_id.in_([b.id for b in user.buildings])]
    return []


def _scope_parts(user: User) -> list[list[ColumnElement[bool]]]:
    """The policy's scope as disjoint parts (`access.scope_parts`), each with the literal jurisdiction.

    One part for every role but the handler. Counting or paging each part on its own walks one
    index without reading rows: a handler's "assigned to us OR returned by us" as one clause made
    a week of closed cases cost 14 ms on 100,000 cases instead of 0.5 ms.
    """
    extra = _jurisdiction(user)
    return [[part, *extra] for part in access.scope_parts(user)]


def _order(col: Column, f: CaseFilters, c=None):
    """Open work: the longest waiting first (or the soonest due, when sorted by due time);
    finished work: the latest first.

    Both follow the (scope, status, updated_at) indexes, so a page of 50 reads 50 index entries
    however long the column is. Priority shows on the card by colour and icon, and has a filter.
    `c` is where the columns come from: the case table, or a subquery carrying id, updated_at
    and stage_due_at.
    """
    c = c if c is not None else Case.__table__.c
    if col.newest_first:
        return (c.updated_at.desc(), c.id.desc())
    if f.sort == "due":
        return (c.stage_due_at.is_(None), c.stage_due_at, c.id)
    return (c.updated_at, c.id)


def _counts(user: User, f: CaseFilters, cols: Iterable[Column], at: dt.datetime) -> dict[str, int]:
    # Every part of the scope × every part of the column: each count is one index range.
    parts = [
        apply_filters(select(literal(col.key).label("col"), func.count().label("n"))
                      .select_from(Case).where(*scope, where(user, at)), f, with_status=False)
        for scope in _scope_parts(user) for col in cols for where in (col.parts or (col.where,))
    ]
    if not parts:
        return {}
    counts: dict[str, int] = {}
    for key, n in db.session.execute(union_all(*parts)):
        counts[key] = counts.get(key, 0) + n
    return counts


def _page_ids(user: User, f: CaseFilters, spans: dict[str, tuple[int, int]], at: dt.datetime) -> list[tuple[str, int]]:
    """(column, case id) for pages first..last of each column, in display order: one UNION ALL statement.

    With a scope in several parts (a handler's) or a column in several parts, each part gives its
    own first rows in order and the column takes the first of those: each part walks one index
    instead of the database merging indexes and sorting every row of the column.
    """
    scopes = _scope_parts(user)
    parts = []
    for key, (first, last) in spans.items():
        col = column(user, key)
        limit, offset = PAGE_SIZE * (last - first + 1), (first - 1) * PAGE_SIZE
        wheres = [(scope, where) for scope in scopes for where in (col.parts or (col.where,))]
        if len(wheres) == 1:
            inner = (apply_filters(select(Case.id).where(*scopes[0], col.where(user, at)), f, with_status=False)
                     .order_by(*_order(col, f)).limit(limit).offset(offset).subquery())
        else:
            branches = [
                select(apply_filters(select(Case.id, Case.updated_at, Case.stage_due_at)
                                     .where(*scope, where(user, at)), f, with_status=False)
                       .order_by(*_order(col, f)).limit(offset + limit).subquery())
                for scope, where in wheres
            ]
            merged = union_all(*branches).subquery()
            inner = (select(merged.c.id).order_by(*_order(col, f, merged.c))
                     .limit(limit).offset(offset).subquery())
        parts.append(select(literal(key).label("col"), inner.c.id))
    if not parts:
        return []
    return [(k, i) for k, i in db.session.execute(union_all(*parts) if len(parts) > 1 else parts[0])]


# The card never shows the description or anything about the resident: those are not even read.
_CARD_HIDDEN = frozenset({"description", "reporter_name", "reporter_phone", "tracking_code"})
_CARD_FIELDS = tuple(a.key for a in Case.__mapper__.column_attrs if a.key not in _CARD_HIDDEN)


class CardCase(namedtuple("CardCase", _CARD_FIELDS)):
    """A read-only snapshot of a case row, as a board's card shows it and the policy judges it.

    A board reads 300 cases and every card reads some 40 of their values (policy, due badge,
    cache key, template): a plain tuple costs a tenth of an ORM instance to build and to read,
    about 5 ms a board. Actions never use it: they load the case through the ORM. The hidden
    columns are absent, so a template that reached for the resident's number would fail loudly.
    """

    __slots__ = ()

    @property
    def is_open(self) -> bool:  # as Case.is_open
        return self.status != "closed"


def _cards(user: User, pairs: list[tuple[str, int]]) -> dict[str, list[CardView]]:
    ids = [i for _, i in pairs]
    # The ids are our own integers: written into the SQL (literal_execute) rather than bound one
    # parameter each, which costs PostgreSQL 1 ms of 3 for 300 ids.
    stmt = select(*(getattr(Case, name) for name in _CARD_FIELDS)).where(
        Case.id.in_(bindparam("card_ids", [int(i) for i in ids], literal_execute=True)))
    by_id = {row[0]: CardCase._make(row) for row in db.session.execute(stmt)} if ids else {}
    out: dict[str, list[CardView]] = {}
    for key, case_id in pairs:
        if case_id in by_id:
            out.setdefault(key, []).append(card_view(user, by_id[case_id], key))
    return out


@dataclass
class Names:
    """Category, building and organisation names for the cards on screen (three small queries)."""

    categories: dict[int, Category]
    buildings: dict[int, Building]
    organisations: dict[int, Organisation]

    @classmethod
    def for_cases(cls, cases: Iterable[Case]) -> Names:
        cases = list(cases)
        def load(model, ids):
            ids = {i for i in ids if i is not None}
            return {o.id: o for o in db.session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
        return cls(load(Category, (c.category_id for c in cases)), load(Building, (c.building_id for c in cases)),
                   load(Organisation, (c.assigned_org_id for c in cases)))


# A refreshed board keeps the pages a user opened with "show more", up to this many per column.
MAX_PAGES = 10


def parse_pages(user: User, raw: str | None) -> dict[str, int]:
    """"new:3,triage:2" (what the live board sends) as {column: pages}; unknown parts are left out.

    The browser builds it from the pages a column has open; it is never typed, so a part that is
    not one of the user's columns or not a number is ignored, and a number is kept within 1..MAX_PAGES.
    """
    pages: dict[str, int] = {}
    for part in (raw or "").split(",")[:len(columns_for(user))]:
        key, _, n = part.partition(":")
        if column(user, key) is not None and n.isdigit():
            pages[key] = min(max(int(n), 1), MAX_PAGES)
    return pages


def load_board(user: User, f: CaseFilters, *, locale: str = "", at: dt.datetime | None = None,
               etag_value: str | None = None, pages: dict[str, int] | None = None) -> Board:
    """The user's board: every column's count and first page of cards (or the first `pages[key]` pages)."""
    at = at or now()
    cols = columns_for(user)
    pages = pages or {}
    counts = _counts(user, f, cols, at)
    cards = _cards(user, _page_ids(user, f, {c.key: (1, pages.get(c.key, 1)) for c in cols}, at))
    views = [ColumnView(c.key, c.label, counts.get(c.key, 0), cards.get(c.key, []), page=pages.get(c.key, 1))
             for c in cols]
    return Board(title=TITLES.get(user.role, ""), columns=views,
                 etag=etag_value or etag(user, f, locale=locale, at=at), at=at,
                 names=Names.for_cases(v.case for col in views for v in col.cards))


def load_column_page(user: User, key: str, f: CaseFilters, page: int, *, at: dt.datetime | None = None) -> ColumnView:
    """One more page of one column ("show more")."""
    at = at or now()
    col = column(user, key)
    if col is None:
        raise NotFound(_l("没有这一列。"))
    count = _counts(user, f, [col], at).get(key, 0)
    cards = _cards(user, _page_ids(user, f, {key: (page, page)}, at)).get(key, [])
    return ColumnView(col.key, col.label, count, cards, page=page, first=page)


ETAG_WINDOW = dt.timedelta(minutes=15)
_EPOCH = dt.datetime(2000, 1, 1)


def etag(user: User, f: CaseFilters, *, locale: str = "", at: dt.datetime | None = None) -> str:
    """A cheap fingerprint of everything the board could show: it changes when any case in scope does.

    Over the cases the board can show (open, or touched within the recent window): count and
    max(updated_at), which the (scope, status, updated_at) indexes answer without reading rows
    (a new case shows as a new count and a new latest time); plus sum(version) over the cases touched in the last minutes, which tells apart
    two changes within the same second (updated_at has one-second resolution). Every transition
    sets updated_at to now and bumps the version. Then who is looking, the filters, the language
    and a coarse clock bucket (ages and due badges move with time).
    """
    at = at or now()
    # The window starts from the bucket's start, not from `at`, so rows do not drift out of it
    # (changing the sum) between two polls of the same bucket.
    bucket = int((at - _EPOCH).total_seconds()) // ETAG_BUCKET_SECONDS
    since = _EPOCH + dt.timedelta(seconds=bucket * ETAG_BUCKET_SECONDS) - ETAG_WINDOW
    # Open cases and recently closed ones as separate index-friendly parts (an OR of the two would
    # make the database read every case in scope), for each disjoint part of the scope.
    parts = []
    for scope in _scope_parts(user):
        parts += [
            apply_filters(select(literal(i), func.count(), func.max(Case.updated_at))
                          .select_from(Case).where(*scope, cond), f, with_status=False)
            for i, cond in enumerate((Case.status.in_(OPEN_STATUSES),
                                      and_(Case.status == "closed", Case.updated_at >= _cutoff(at))))
        ]
        # Naming every status lets the (scope, status, updated_at) indexes serve the time range.
        parts.append(apply_filters(select(literal(2), func.coalesce(func.sum(Case.version), 0), null())
                                   .where(*scope, Case.status.in_(STATUSES), Case.updated_at >= since),
                                   f, with_status=False))
    # Tagged, since UNION ALL does not promise its parts' order: 0/1 counted (open, recently closed), 2 versions.
    rows = db.session.execute(union_all(*parts)).all()
    counted = [r for r in rows if r[0] != 2]
    row = (sum(r[1] for r in counted), max((r[2] for r in counted if r[2]), default=None),
           sum(r[1] for r in rows if r[0] == 2))
    raw = "|".join(str(x) for x in (user.id, user.role, locale, sorted(f.as_args().items()), bucket, *row))
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def column_of(user: User, case: Case, at: dt.datetime | None = None) -> str | None:
    """Which of the user's columns the case sits in now (one query; the columns' own clauses decide)."""
    at = at or now()
    cols = columns_for(user)
    if not cols:
        return None
    db.session.flush()
    which = sql_case(*[(c.where(user, at), literal(c.key)) for c in cols], else_=null())
    return db.session.scalar(select(which).where(Case.id == case.id, access.scope_clause(user)))


def filter_options(user: User) -> dict:
    """What the filter bar offers: categories, and the grids, buildings and organisations in scope."""
    role = user.role
    grids = select(Grid).order_by(Grid.id)
    buildings = select(Building).order_by(Building.id)
    if role == "grid_staff":
        ids = [g.id for g in user.grids]
        grids, buildings = grids.where(Grid.id.in_(ids)), buildings.where(Building.grid_id.in_(ids))
    elif role == "building_leader":
        ids = [b.id for b in user.buildings]
        grids = grids.where(Grid.id.in_(select(Building.grid_id).where(Building.id.in_(ids))))
        buildings = buildings.where(Building.id.in_(ids))
    elif role == "community_supervisor":
        grids = grids.where(Grid.community_id == user.community_id)
        buildings = buildings.where(Building.grid_id.in_(select(Grid.id).where(Grid.community_id == user.community_id)))
    elif role == "handler":
        grids = buildings = None
    return {
        "categories": db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.id)).all(),
        "grids": db.session.scalars(grids).all() if grids is not None else [],
        "buildings": db.session.scalars(buildings).all() if buildings is not None else [],
        "organisations": [] if role == "handler" else db.session.scalars(
            select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.id)).all(),
    }


# ---------------------------------------------------------------------------------------------
# Acting from a board

def move_event(user: User, case: Case, target: str) -> tuple[str, str]:
    """The event that takes this case from its column to `target`, or Refused saying why."""
    source = column_of(user, case)
    if column(user, target) is None:
        raise Refused(_l("没有这一列。"))
    if source == target:
        raise Refused(_l("案件已经在“%(col)s”列。", col=column_label(user, target)))
    view = card_view(user, case, source or "")
    for m in view.moves:
        if m.target == target:
            return source, m.event
    raise Refused(_l("不能把这件案件移到“%(col)s”：您现在没有这一步的权限，或案件状态已变化。",
                     col=column_label(user, target)))


def fire_to(user: User, case: Case, event: str, data: dict, *, version: int | None, target: str | None = None):
    """Fire `event`; when it came from a drop on `target`, the case must land there or nothing changes."""
    row = transitions.fire(user, case, event, data, version=version)
    if target:
        landed = column_of(user, case)
        if landed != target:
            raise Refused(_l("这一步会让案件进入“%(col)s”，而不是“%(target)s”；请用卡片上的按钮办理。",
                             col=column_label(user, landed) if landed else case.status,
                             target=column_label(user, target)))
    return row


@dataclass
class BulkResult:
    done: list[Case] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (number or id, message)


def parse_picks(values: Iterable[str]) -> list[tuple[int, int | None]]:
    """'id:version' pairs from ticked cards; anything malformed is dropped."""
    picks = []
    for raw in values:
        case_id, _, version = (raw or "").partition(":")
        if case_id.isdigit():
            picks.append((int(case_id), int(version) if version.isdigit() else None))
    return picks


def _scoped_cases(user: User, ids: list[int]) -> dict[int, Case]:
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids), access.scope_clause(user)))}


def sign_many(actor: User, picks: list[tuple[int, int | None]]) -> BulkResult:
    """Sign for several new cases: each gets its own event row; a stale or refused one is reported."""
    result = BulkResult()
    cases = _scoped_cases(actor, [i for i, _ in picks])
    for case_id, version in picks:
        case = cases.get(case_id)
        if case is None:
            result.failed.append((f"#{case_id}", str(_l("找不到该案件，或不在您的辖区内。"))))
            continue
        try:
            with db.session.begin_nested():
                transitions.fire(actor, case, "sign", {}, version=version)
        except ServiceError as exc:
            result.failed.append((case.number, str(exc.message)))
            continue
        result.done.append(case)
    log.info("bulk sign by %s: %d done, %d refused", actor.username, len(result.done), len(result.failed))
    return result


URGE_NOTE_MAX = 500


def urge_many(actor: User, picks: list[tuple[int, int | None]], note: str) -> BulkResult:
    """Urge (催办) several cases: a timeline row and a notice for each case the supervisor may urge."""
    note = (note or "").strip()
    if len(note) > URGE_NOTE_MAX:
        raise Invalid(_l("请检查填写的内容。"), {"note": _l("说明不能超过 %(n)d 字。", n=URGE_NOTE_MAX)})
    result = BulkResult()
    cases = _scoped_cases(actor, [i for i, _ in picks])
    for case_id, _version in picks:
        case = cases.get(case_id)
        if case is None:
            result.failed.append((f"#{case_id}", str(_l("找不到该案件，或不在您的辖区内。"))))
        elif not access.may_urge(actor, case):
            result.failed.append((case.number, str(_l("该案件不能催办（已办结或无权限）。"))))
        else:
            result.done.append(case)
    # One timeline row on each case and a notice to whoever holds it (the same as urging one case).
    escalation.urge(actor, result.done, note or str(_l("请抓紧办理。")))
    log.info("bulk urge by %s: %d urged, %d refused", actor.username, len(result.done), len(result.failed))
    return result
