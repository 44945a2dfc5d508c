"""Rendering a board's cards, each one reused while nothing it shows has changed.

A board renders up to 300 cards, and most of them are the same from one render to the next: the
board re-renders whenever any case in its scope changes (and every few minutes for the clock),
and colleagues on the same grid see the same cards. Rendering a card through Jinja costs about
0.1 ms; working out whether it changed costs a fifth of that. So each rendered card is kept in a
small per-process LRU, under a key made of *everything the card shows*.

That is a `CardFacts` value, built in Python for every card, cached or not: the case's own values
on the card and its version; what this viewer may do with it as the policy says now (events, drop
targets, bulk pick) and the column it sits in; what changes with the clock (age, due badge); the
names it shows (category, building, organisation). The macro in `_card.html` reads only the facts
and the request's words (`W`: translations, which depend on the language and the role's column
names). So the key is the facts plus language, role and URL root, and what must stay equal is:
*the macro reads nothing that is not in the facts or the words*. A new mark on a card (say
"assigned to me") goes into `CardFacts` first, and is then in the key by construction: a card
rendered for one viewer is never served to a colleague who would see it differently.

A key never trusts that something has not changed: the values themselves are in it, so an edited
name, a row changed behind the ORM's back or a test database reusing ids cannot show a stale card.
The single-card responses (after an action, with an inline form) always render afresh.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from flask import current_app, request, url_for

from casework.models.cases import mask_phones
from casework.services.boards import CardView, MoveOption, Names


class CardCache:
    """A bounded, thread-safe LRU of rendered cards (HTML produced by the autoescaping template)."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple):
        with self._lock:
            html = self._items.get(key)
            if html is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return html

    def put(self, key: tuple, html) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = html
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


def cache() -> CardCache:
    """This app's card cache (one per app and process; BOARD_CARD_CACHE_SIZE entries, 0 = off)."""
    found = current_app.extensions.get("casework_card_cache")
    if found is None:
        found = current_app.extensions["casework_card_cache"] = CardCache(
            current_app.config.get("BOARD_CARD_CACHE_SIZE", 2048))
    return found


class Links(NamedTuple):
    """A card's URLs (boards.move, cases.detail, boards.card; per event boards.fire_event / event_form;
    the "after" thumbnail, public_staff.thumb, when the card shows one)."""

    move: str
    detail: str
    card: str
    fire: dict[str, str]
    form: dict[str, str]
    thumb: str | None = None


class CardLinks:
    """Every card's URLs for one response, from patterns url_for gives once.

    A board has up to 300 cards with four to six links each: url_for per link cost more than the
    rest of the card, and even a call per link from the template costs 6 ms a board. The pattern
    comes from url_for itself, so routing stays the one source. What must stay equal: each route
    has the case id as its only variable part (the pattern splits url_for's answer around it).
    """

    _MARK = 987654321

    def __init__(self):
        self._patterns: dict[tuple, tuple[str, str]] = {}

    def _url(self, case_id: int, endpoint: str, event: str | None = None) -> str:
        key = (endpoint, event)
        pattern = self._patterns.get(key)
        if pattern is None:
            values = {"event": event} if event else {}
            head, _, tail = url_for(endpoint, case_id=self._MARK, **values).partition(str(self._MARK))
            pattern = self._patterns[key] = (head, tail)
        return f"{pattern[0]}{case_id}{pattern[1]}"

    def _thumb(self, case_id: int, photo_id: int) -> str:
        # Two variable parts (the case and the photo): the pattern is split around both marks.
        pattern = self._patterns.get(("thumb", None))
        if pattern is None:
            url = url_for("public_staff.thumb", case_id=self._MARK, attachment_id=self._MARK + 1)
            head, _, rest = url.partition(str(self._MARK))
            middle, _, tail = rest.partition(str(self._MARK + 1))
            pattern = self._patterns[("thumb", None)] = (head, middle, tail)
        return f"{pattern[0]}{case_id}{pattern[1]}{photo_id}{pattern[2]}"

    def __call__(self, case_id: int, events: list[str], photo_id: int | None = None) -> Links:
        url = self._url
        return Links(url(case_id, "boards.move"), url(case_id, "cases.detail"), url(case_id, "boards.card"),
                     {e: url(case_id, "boards.fire_event", e) for e in events},
                     {e: url(case_id, "boards.event_form", e) for e in events},
                     self._thumb(case_id, photo_id) if photo_id is not None else None)


@dataclass(frozen=True, slots=True)
class CardFacts:
    """Every value a board card shows (`_card.html` reads nothing else but the request's words).

    Equality and hash cover every field but `links`, which follow from `id`, `events` and the
    URL root (in the cache key beside the facts): the facts are the card cache's key.
    """

    id: int
    version: int
    number: str
    title: str
    priority: str
    column: str
    category: str
    building: str
    unit: str
    organisation: str
    age: str
    return_count: int
    due: object  # ui.DueView (a tuple) or None
    events: tuple[str, ...]
    moves: tuple[MoveOption, ...]
    pick: str | None = None  # "sign" or "urge" when the card can be ticked for a bulk action
    # A quoted note (reading.Names.notes): ("reopen", the resident's reason) on a case reopened at
    # the call-back (重办) until it is resolved again; ("done", the handler's done note) awaiting the
    # call-back. Masked and shortened; None when the card quotes nothing.
    quote: tuple[str, str] | None = None
    after_photo: int | None = None  # the first "after" photo's id, shown as a thumbnail awaiting the call-back
    assist: object = None  # services.assists.CardAssist (a tuple: settled, total, the viewer's own part) or None
    links: Links | None = field(default=None, compare=False)

    @property
    def primary(self) -> list[str]:
        """The events that carry the card forward to another column: shown as buttons."""
        forward = {m.event for m in self.moves}
        return [e for e in self.events if e in forward] or list(self.events[:1])

    @property
    def more(self) -> list[str]:
        """The other events (merge, reject, return, ...): behind "更多…" until asked for."""
        primary = set(self.primary)
        return [e for e in self.events if e not in primary]

    @property
    def drop_targets(self) -> str:
        return " ".join(m.target for m in self.moves)

    @property
    def form_targets(self) -> str:
        return " ".join(m.target for m in self.moves if m.form)


QUOTE_CHARS = 60


def _shorten(text: str) -> str:
    """A note as a card quotes it: one line, at most QUOTE_CHARS characters (the case page has it all)."""
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "…"


class CardRenderer:
    """Renders the cards of one board response: `renderer(card, macro)` from the template.

    `due` is `ui.DueViews` and `age` the card's age words, both bound to the request's time, and
    `links` a `CardLinks`; `macro` is the template's `card_article`, called only when the card is
    not in the cache.
    """

    def __init__(self, role: str, locale: str, names: Names, due: Callable, age: Callable, links: CardLinks):
        self.names = names
        self.due = due
        self.age = age
        self.links = links
        self.locale = locale
        # Besides the facts, what the card's HTML depends on: the words (language; the role's column
        # names) and the URLs (URL root).
        self.head = (role, locale, request.script_root)
        self.cache = cache()

    def facts(self, card: CardView, *, links: bool = True) -> CardFacts:
        """The card's facts, from the policy's view of it (`card`), this request's clock and the names.

        `links=False` leaves the URLs out (they are not part of the key): a cached card needs none.
        """
        c, names = card.case, self.names
        category = names.categories.get(c.category_id)
        building = names.buildings.get(c.building_id)
        org = names.organisations.get(c.assigned_org_id) if c.assigned_org_id is not None else None
        quote = names.notes.get(c.id)
        if quote is not None:
            quote = (quote[0], _shorten(mask_phones(quote[1])))
        photo = names.after_photos.get(c.id)
        return CardFacts(
            id=c.id, version=c.version, number=c.number, title=mask_phones(c.title), priority=c.priority, column=card.column,
            category=category.label(self.locale) if category else "", building=building.name if building else "",
            unit=mask_phones(c.unit), organisation=org.name if org else "", age=self.age(c.created_at),
            return_count=c.return_count,
            due=self.due(c) if c.stage_due_at is not None and c.status != "closed" else None,
            events=tuple(card.events), moves=tuple(card.moves), pick=card.pick, quote=quote, after_photo=photo,
            assist=card.assist, links=self.links(c.id, card.events, photo) if links else None)

    def __call__(self, card: CardView, macro):
        facts = self.facts(card, links=False)
        key = (*self.head, facts)
        html = self.cache.get(key)
        if html is None:
            html = macro(replace(facts, links=self.links(facts.id, facts.events, facts.after_photo)))
            self.cache.put(key, html)
        return html
