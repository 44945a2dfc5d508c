"""Reading a board: counts, the cards on screen, the ETag, in a fixed number of SQL statements.

A board is a handful of statements whatever the number of cases: one primary-key read of the
change counters for the ETag (`changes.read`), one
for the column counts, one UNION ALL for the ids on screen, one for those cases and three small
name lookups.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict, namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement, bindparam, case as sql_case, func, literal, null, select, union_all,
)

from casework import access
from casework.access import Jurisdiction, Who, jurisdiction_of
from casework.extensions import db
from casework.models import Attachment, Building, Case, CaseEvent, Category, Grid, Organisation
from casework.numbers import as_int
from casework.services import assists
from casework.services.errors import NotFound
from casework.services.queries import CaseFilters, apply_filters
from casework.timekeeping import now

from casework.services.boards import changes
from casework.services.boards.layout import (
    BOUND_AT, PAGE_SIZE, ETAG_BUCKET_SECONDS, TITLES, Column, MoveOption, bound_times, column, columns_for, due_first,
    moves_for,
)


@dataclass
class CardView:
    """What the policy says about a card besides the case itself: the column, the events this user
    may fire, the columns it may be dropped on, and whether it can be ticked for a bulk action.
    (What the card *shows* is `casework.boards.cards.CardFacts`, built from this.)"""

    case: Case
    column: str
    events: list[str]
    moves: list[MoveOption] = field(default_factory=list)
    pick: str | None = None  # "sign" or "urge" when the card can be ticked for a bulk action
    assist: assists.CardAssist | None = None  # the assisting parts (协办), when the case has any


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

    @property
    def remaining(self) -> int:
        """How many cards of the column are past the pages shown ("show more" names it)."""
        return max(0, self.count - self.page * PAGE_SIZE)


@dataclass
class Board:
    title: object
    columns: list[ColumnView]
    etag: str
    at: dt.datetime
    names: Names | None = None
    due_first: bool = False  # the default order is the soonest due first (the filter bar names it)


_LOOK_UP = object()


def card_view(who: Who, case: Case, column_key: str, assist=_LOOK_UP) -> CardView:
    """The buttons and drop targets the policy gives this user on this card now (and its assisting
    mark: pass it when known for many cards, else it is looked up)."""
    if assist is _LOOK_UP:
        assist = assists.card_marks([case.id], jurisdiction_of(who).organisation_id).get(case.id)
    events = access.events_for(who, case)
    pick = None
    if access.may_bulk_sign(who) and "sign" in events:
        pick = "sign"
    elif access.may_urge(who, case):
        pick = "urge"
    return CardView(case=case, column=column_key, events=events, moves=moves_for(who, column_key, case, events),
                    pick=pick, assist=assist)


def policy_class(j: Jurisdiction, case, column_key: str) -> tuple:
    """Everything `card_view` reads of a case besides its id and assisting mark: cards with equal
    classes get equal events, drop targets and bulk pick.

    The policy (`access.events_for`, `may_urge`, `may_bulk_sign`) and the moves' guards read the
    status, the four guard facts of `workflow.enabled_events` (via a leader, has a handler,
    awaiting the handler's sign-for, returned before), and the viewer's relation to the case:
    whether they act for it in their own role (`Jurisdiction.acts_for`; `_acts_for` is false for
    any other role) and, for supervisors, whether they see it (`may_urge`). A board of 300 cards
    has a dozen classes, so `_cards` asks the policy once per class instead of once per card
    (≈ 1,070 `may_fire` calls a render before). What must stay equal: a new fact read by the policy
    or by a guard on the card's path goes into this tuple (tests/test_boards.py compares every demo
    user's classed cards with `card_view` per case).
    """
    return (case.status, bool(case.via_leader), case.assigned_org_id is not None, case.handler_accepted_at is None,
            bool(case.return_count), column_key, j.acts_for(case, j.role),
            j.contains(case) if j.role in access.SUPERVISORS else None)


def index_ranges(j: Jurisdiction, pieces: Iterable[tuple[object, ColumnElement[bool]]]):
    """Every disjoint part of the scope × every piece: (tag, [scope part, piece]), each one index range.

    Counts and page ids read the board through this product (the ETag reads change counters). What must stay equal:
    the scope parts (`Jurisdiction.parts`) are disjoint and add up to `Jurisdiction.clause()`, and
    so are a column's parts (`Column.parts`) to `Column.where`; so summing counts or merging pages
    over the product gives what one query over the whole clause would. Counting or paging each
    part on its own walks one index without reading rows: a handler's "assigned to us OR returned
    by us" as one clause made a week of closed cases cost 14 ms on 100,000 cases instead of 0.5 ms.
    """
    pieces = list(pieces)
    for scope in j.parts():
        for tag, piece in pieces:
            yield tag, [scope, piece]


def _order(col: Column, f: CaseFilters, c=None):
    """Open work: the longest waiting first, or the soonest due (sort=due, and by default in the
    columns marked `due_first`: a handler's and a building leader's own work); finished work: the
    latest first.

    Each order follows an index: (scope, status, updated_at) for the waiting and finished orders,
    (scope, status[, handler_accepted_at], stage_due_at) for the due order (NULLS LAST is
    PostgreSQL's own order of an ascending index), so a page of 50 reads 50 index entries however
    long the column is. Priority shows on the card by colour and icon, and has a filter.
    `c` is where the columns come from: the case table, or a subquery carrying id, updated_at
    and stage_due_at. What must stay equal: these keys and the indexes of models/cases.py, or a
    page sorts the whole column.
    """
    c = c if c is not None else Case.__table__.c
    if col.newest_first:
        return (c.updated_at.desc(), c.id.desc())
    if f.sort == "due" or (col.due_first and f.sort != "waited"):
        return (c.stage_due_at.asc().nulls_last(), c.id)
    return (c.updated_at, c.id)


def _column_pieces(j: Jurisdiction, cols: Iterable[Column], at: dt.datetime):
    return [(col.key, part(j, at)) for col in cols for part in col.parts]


# Composed statements kept per process: a board's counts and page ids are two statements of
# dozens of clauses each (≈ 300 SQL expressions composed, and their cache key generated, per
# render), the same from one render to the next for one viewer and filter. Built with the column
# clauses' time as a bound parameter (`layout.BOUND_AT`), and executed with `bound_times(at)`.
_STATEMENTS: OrderedDict[tuple, object] = OrderedDict()
_STATEMENTS_SIZE = 512
_STATEMENTS_LOCK = threading.Lock()


def _filters_key(f: CaseFilters) -> tuple | None:
    """The filters a board statement depends on, or None when the statement must not be kept (the
    overdue filter compares with now() as a value). What must stay equal: every field
    `apply_filters` reads (with_status=False) and `_order` reads is here."""
    if f.overdue:
        return None
    return (f.category, f.priority, f.grid, f.building, f.organisation, f.q, f.phone, f.sort)


def _statement(kind: str, j: Jurisdiction, f: CaseFilters, detail: tuple, build, at: dt.datetime):
    """(statement, parameters): `build(at)` composed once per (kind, jurisdiction, filters, detail)
    with `BOUND_AT`, or afresh with the instant itself when the filters cannot be kept."""
    fkey = _filters_key(f)
    if fkey is None:
        return build(at), {}
    # The scope, not the viewer: colleagues of one grid share the statements (user_id is not in them).
    key = (kind, replace(j, user_id=None), fkey, detail)
    with _STATEMENTS_LOCK:
        stmt = _STATEMENTS.get(key)
        if stmt is not None:
            _STATEMENTS.move_to_end(key)
    if stmt is None:
        stmt = build(BOUND_AT)
        with _STATEMENTS_LOCK:
            _STATEMENTS[key] = stmt
            while len(_STATEMENTS) > _STATEMENTS_SIZE:
                _STATEMENTS.popitem(last=False)
    return stmt, bound_times(at)


def _counts(j: Jurisdiction, f: CaseFilters, cols: Iterable[Column], at: dt.datetime) -> dict[str, int]:
    cols = tuple(cols)

    def build(at):
        # Every part of the scope × every part of the column: each count is one index range.
        parts = [
            apply_filters(select(literal(key).label("col"), func.count().label("n"))
                          .select_from(Case).where(*conds), f, with_status=False)
            for key, conds in index_ranges(j, _column_pieces(j, cols, at))
        ]
        return union_all(*parts) if parts else None
    stmt, params = _statement("counts", j, f, tuple(c.key for c in cols), build, at)
    if stmt is None:
        return {}
    counts: dict[str, int] = {}
    for key, n in db.session.execute(stmt, params):
        counts[key] = counts.get(key, 0) + n
    return counts


def _page_ids(j: Jurisdiction, f: CaseFilters, spans: dict[str, tuple[int, int]], at: dt.datetime) -> list[tuple[str, int]]:
    """(column, case id) for pages first..last of each column, in display order: one UNION ALL statement.

    With a scope in several parts (a handler's) or a column in several parts, each part gives its
    own first rows in order and the column takes the first of those: each part walks one index
    instead of the database merging indexes and sorting every row of the column.
    """
    stmt, params = _statement("pages", j, f, tuple(spans.items()), lambda at: _page_ids_statement(j, f, spans, at), at)
    if stmt is None:
        return []
    return [(k, i) for k, i in db.session.execute(stmt, params)]


def _page_ids_statement(j: Jurisdiction, f: CaseFilters, spans: dict[str, tuple[int, int]], at):
    parts = []
    for key, (first, last) in spans.items():
        col = column(j, key)
        limit, offset = PAGE_SIZE * (last - first + 1), (first - 1) * PAGE_SIZE
        ranges = [conds for _, conds in index_ranges(j, _column_pieces(j, [col], at))]
        if len(ranges) == 1:
            inner = (apply_filters(select(Case.id).where(*ranges[0]), f, with_status=False)
                     .order_by(*_order(col, f)).limit(limit).offset(offset).subquery())
        else:
            branches = [
                select(apply_filters(select(Case.id, Case.updated_at, Case.stage_due_at)
                                     .where(*conds), f, with_status=False)
                       .order_by(*_order(col, f)).limit(offset + limit).subquery())
                for conds in ranges
            ]
            merged = union_all(*branches).subquery()
            inner = (select(merged.c.id).order_by(*_order(col, f, merged.c))
                     .limit(limit).offset(offset).subquery())
        parts.append(select(literal(key).label("col"), inner.c.id))
    if not parts:
        return None
    return union_all(*parts) if len(parts) > 1 else parts[0]


# The card never shows the description or anything about the resident: those are not even read.
_CARD_HIDDEN = frozenset({"description", "reporter_name", "reporter_phone", "tracking_code"})
_CARD_FIELDS = tuple(a.key for a in Case.__mapper__.column_attrs if a.key not in _CARD_HIDDEN)


class CardCase(namedtuple("CardCase", _CARD_FIELDS)):
    """A read-only snapshot of a case row, as a board's card shows it and the policy judges it.

    A board reads 300 cases and every card reads some 40 of their values (policy, due badge,
    cache key, template): a plain tuple costs a tenth of an ORM instance to build and to read,
    about 5 ms a board. Actions never use it: they load the case through the ORM. The hidden
    columns are absent, so a template that reached for the resident's number would fail loudly.
    What must stay equal: `is_open` below and `Case.is_open`; anything the policy or the card
    reads must be a column of Case (not a relationship or property it lacks).
    """

    __slots__ = ()

    @property
    def is_open(self) -> bool:  # as Case.is_open
        return self.status != "closed"


# The ids are our own integers: written into the SQL (literal_execute) rather than bound one
# parameter each, which costs PostgreSQL 1 ms of 3 for 300 ids. Composed once (35 columns).
_CARDS_STATEMENT = select(*(getattr(Case, name) for name in _CARD_FIELDS)).where(
    Case.id.in_(bindparam("card_ids", expanding=True, literal_execute=True)))


def _cards(j: Jurisdiction, pairs: list[tuple[str, int]]) -> dict[str, list[CardView]]:
    ids = [int(i) for _, i in pairs]
    by_id = ({row[0]: CardCase._make(row) for row in db.session.execute(_CARDS_STATEMENT, {"card_ids": ids})}
             if ids else {})
    marks = assists.card_marks(list(by_id), j.organisation_id)
    out: dict[str, list[CardView]] = {}
    # The policy's answer per class of cards (`policy_class`), not per card.
    classes: dict[tuple, CardView] = {}
    for key, case_id in pairs:
        case = by_id.get(case_id)
        if case is None:
            continue
        cls = policy_class(j, case, key)
        known = classes.get(cls)
        if known is None:
            known = classes[cls] = card_view(j, case, key, None)
        # The lists are shared by the cards of one class: nothing downstream changes them (CardFacts
        # turns them into tuples).
        out.setdefault(key, []).append(CardView(case=case, column=key, events=known.events, moves=known.moves,
                                                pick=known.pick, assist=marks.get(case_id)))
    return out


# The timeline rows a card quotes: the handler's done note on a call-back card, the resident's
# reason on a reopened case (重办) until it is resolved again.
_QUOTED_EVENTS = ("reopen", "report_done", "resolve")


@dataclass
class Names:
    """Names and quoted notes for the cards on screen: category, building and organisation names
    (three small queries), and in one more statement the notes and "after" photos the cards show.

    `notes` maps a case id to ("reopen", the reason) for a case reopened at the call-back and not
    resolved since, or to ("done", the done note) for a case awaiting its call-back; `after_photos`
    maps a case awaiting its call-back to its first "after" photo (the card's thumbnail).
    """

    categories: dict[int, Category]
    buildings: dict[int, Building]
    organisations: dict[int, Organisation]
    notes: dict[int, tuple[str, str]] = field(default_factory=dict)
    after_photos: dict[int, int] = field(default_factory=dict)

    @classmethod
    def for_cases(cls, cases: Iterable[Case]) -> Names:
        cases = list(cases)
        def load(model, ids):
            ids = {i for i in ids if i is not None}
            return {o.id: o for o in db.session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
        names = cls(load(Category, (c.category_id for c in cases)), load(Building, (c.building_id for c in cases)),
                    load(Organisation, (c.assigned_org_id for c in cases)))
        names._load_quotes(cases)
        return names

    def _load_quotes(self, cases: list) -> None:
        """The notes and thumbnails of the cards (one UNION ALL, only when a card can show one)."""
        worked = [c.id for c in cases if c.status in ("triage", "building_leader", "handling", "resolved")]
        resolved = [c.id for c in cases if c.status == "resolved"]
        if not worked:
            return
        ids = lambda name, values: bindparam(name, [int(i) for i in values], literal_execute=True)  # noqa: E731
        parts = [select(CaseEvent.case_id, CaseEvent.event, CaseEvent.note, CaseEvent.id).where(
            CaseEvent.case_id.in_(ids("quoted_ids", worked)), CaseEvent.kind == "transition",
            CaseEvent.event.in_(_QUOTED_EVENTS))]
        if resolved:
            parts.append(select(Attachment.case_id, literal("photo"), literal(""), func.min(Attachment.id))
                         .where(Attachment.case_id.in_(ids("photo_ids", resolved)), Attachment.stage == "after")
                         .group_by(Attachment.case_id))
        latest: dict[int, tuple[int, str, str]] = {}
        for case_id, event, note, row_id in db.session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
            if event == "photo":
                self.after_photos[case_id] = row_id
            elif case_id not in latest or row_id > latest[case_id][0]:
                latest[case_id] = (row_id, event, note or "")
        status = {c.id: c.status for c in cases}
        for case_id, (_, event, note) in latest.items():
            if event == "reopen" and status[case_id] != "resolved":
                self.notes[case_id] = ("reopen", note)
            elif event != "reopen" and status[case_id] == "resolved":
                self.notes[case_id] = ("done", note)


# A refreshed board keeps the pages a user opened with "show more", up to this many per column.
MAX_PAGES = 10


def parse_pages(who: Who, raw: str | None) -> dict[str, int]:
    """"new:3,triage:2" (what the live board sends) as {column: pages}; unknown parts are left out.

    The browser builds it from the pages a column has open; it is never typed, so a part that is
    not one of the user's columns or not a number is ignored, and a number is kept within 1..MAX_PAGES.
    """
    pages: dict[str, int] = {}
    for part in (raw or "").split(",")[:len(columns_for(who))]:
        key, _, n = part.partition(":")
        if column(who, key) is not None and as_int(n) is not None:
            pages[key] = min(max(as_int(n), 1), MAX_PAGES)
    return pages


def load_board(who: Who, f: CaseFilters, *, locale: str = "", at: dt.datetime | None = None,
               etag_value: str | None = None, pages: dict[str, int] | None = None) -> Board:
    """The user's board: every column's count and first page of cards (or the first `pages[key]` pages)."""
    j = jurisdiction_of(who)
    at = at or now()
    cols = columns_for(j)
    pages = pages or {}
    counts = _counts(j, f, cols, at)
    cards = _cards(j, _page_ids(j, f, {c.key: (1, pages.get(c.key, 1)) for c in cols}, at))
    views = [ColumnView(c.key, c.label, counts.get(c.key, 0), cards.get(c.key, []), page=pages.get(c.key, 1))
             for c in cols]
    return Board(title=TITLES.get(j.role, ""), columns=views,
                 etag=etag_value or etag(j, f, locale=locale, at=at), at=at,
                 names=Names.for_cases(v.case for col in views for v in col.cards), due_first=due_first(j))


def load_column_page(who: Who, key: str, f: CaseFilters, page: int, *, at: dt.datetime | None = None) -> ColumnView:
    """One more page of one column ("show more")."""
    j = jurisdiction_of(who)
    at = at or now()
    col = column(j, key)
    if col is None:
        raise NotFound(_l("没有这一列。"))
    count = _counts(j, f, [col], at).get(key, 0)
    cards = _cards(j, _page_ids(j, f, {key: (page, page)}, at)).get(key, [])
    return ColumnView(col.key, col.label, count, cards, page=page, first=page)


_EPOCH = dt.datetime(2000, 1, 1)


def etag(who: Who, f: CaseFilters, *, locale: str = "", at: dt.datetime | None = None) -> str:
    """A cheap fingerprint of everything the board could show: it changes when any case in scope does.

    It reads the viewer's per-scope change counters (`changes.read`: one primary-key statement,
    whatever the number of cases), which every committed change to a case in the scope has bumped
    in its own transaction; then who is looking (`Jurisdiction.key`), the filters, the language and
    a coarse clock bucket (ages, due badges, the overdue filter and the 7-day closed window move
    with time, not with writes).

    What must stay equal: see `services/boards/changes.py` — the viewer's counter keys meet those of
    every case it may see, and every change a board shows goes through a session that bumps them;
    otherwise a poll answers 304 over a changed board. The counters cover the whole scope whatever
    the filters: a change outside the filtered cards costs a re-render, never a stale board.
    """
    j = jurisdiction_of(who)
    at = at or now()
    bucket = int((at - _EPOCH).total_seconds()) // ETAG_BUCKET_SECONDS
    raw = "|".join(str(x) for x in (j.key, locale, sorted(f.as_args().items()), bucket, changes.read(j)))
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def column_of(who: Who, case: Case, at: dt.datetime | None = None) -> str | None:
    """Which of the user's columns the case sits in now (one query; the columns' own clauses decide)."""
    j = jurisdiction_of(who)
    at = at or now()
    cols = columns_for(j)
    if not cols:
        return None
    db.session.flush()
    which = sql_case(*[(c.where(j, at), literal(c.key)) for c in cols], else_=null())
    return db.session.scalar(select(which).where(Case.id == case.id, j.clause()))


def filter_options(who: Who) -> dict:
    """What the filter bar offers: categories, and the grids, buildings and organisations in scope."""
    j = jurisdiction_of(who)
    by_place = j.role != "handler"  # a handler's scope is its organisation: no place or organisation filter

    def listed(query):
        return db.session.scalars(query).all() if by_place else []
    return {
        "categories": db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.id)).all(),
        "grids": listed(select(Grid).where(j.grids()).order_by(Grid.id)),
        "buildings": listed(select(Building).where(j.buildings()).order_by(Building.id)),
        "organisations": listed(select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.id)),
    }
