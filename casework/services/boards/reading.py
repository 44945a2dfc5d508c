"""Reading a board: counts, the cards on screen, the ETag, in a fixed number of SQL statements.

A board is a handful of statements whatever the number of cases: one aggregate for the ETag, one
for the column counts, one UNION ALL for the ids on screen, one for those cases and three small
name lookups.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, and_, bindparam, case as sql_case, func, literal, null, select, union_all,
)

from casework import access
from casework.extensions import db
from casework.numbers import as_int
from casework.models import Building, Case, Category, Grid, Organisation, User
from casework.services.errors import NotFound
from casework.services.queries import CaseFilters, apply_filters
from casework.timekeeping import now
from casework.workflow import EVENT_INPUTS, OPEN_STATUSES, STATUSES

from casework.services.boards.layout import (
    MOVES, PAGE_SIZE, ETAG_BUCKET_SECONDS, TITLES, Column, _cutoff, _guard, column, columns_for,
)


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
        if column(user, key) is not None and as_int(n) is not None:
            pages[key] = min(max(as_int(n), 1), MAX_PAGES)
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
