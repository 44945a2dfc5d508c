"""Rendering a board's cards, each one reused while nothing it shows has changed.

A board renders up to 300 cards, and most of them are the same from one render to the next: the
board re-renders whenever any case in its scope changes (and every few minutes for the clock),
and colleagues on the same grid see the same cards. Rendering a card through Jinja costs about
0.1 ms; working out whether it changed costs a fifth of that. So each rendered card is kept in a
small per-process LRU, under a key made of *everything the card shows*:

- the case's own values on the card (number, title, priority, status, unit, return count, …) and
  its version;
- what the viewer may do with it, as the policy says now (events, drop targets, bulk pick), the
  column it sits in, and the viewer's role (column names in the "move to" menu);
- what changes with the clock, computed now for every card: its age and its due badge;
- the names it shows (category, building, organisation), the language and the URL root.

A key never trusts that something has not changed: the values themselves are in it, so an edited
name, a row changed behind the ORM's back or a test database reusing ids cannot show a stale card.
The single-card responses (after an action, with an inline form) always render afresh.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from flask import current_app, request, url_for

from casework.services.boards import CardView, Names


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
    """A card's URLs (boards.move, cases.detail, boards.card; per event boards.fire_event / event_form)."""

    move: str
    detail: str
    card: str
    fire: dict[str, str]
    form: dict[str, str]


class CardLinks:
    """Every card's URLs for one response, from patterns url_for gives once.

    A board has up to 300 cards with four to six links each: url_for per link cost more than the
    rest of the card, and even a call per link from the template costs 6 ms a board. The pattern
    comes from url_for itself, so routing stays the one source.
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

    def __call__(self, case_id: int, events: list[str]) -> Links:
        url = self._url
        return Links(url(case_id, "boards.move"), url(case_id, "cases.detail"), url(case_id, "boards.card"),
                     {e: url(case_id, "boards.fire_event", e) for e in events},
                     {e: url(case_id, "boards.event_form", e) for e in events})


class Shown(NamedTuple):
    """What a card shows that is not the case row itself: worked out for every card, cached or not."""

    age: str
    due: object  # ui.DueView or None
    category: str
    building: str
    organisation: str


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
        self.head = (role, locale, request.script_root)
        self.cache = cache()

    def shown(self, card: CardView) -> Shown:
        c, names = card.case, self.names
        category = names.categories.get(c.category_id)
        building = names.buildings.get(c.building_id)
        org = names.organisations.get(c.assigned_org_id) if c.assigned_org_id is not None else None
        return Shown(
            self.age(c.created_at),
            self.due(c) if c.stage_due_at is not None and c.status != "closed" else None,
            category.label(self.locale) if category else "", building.name if building else "",
            org.name if org else "")

    def __call__(self, card: CardView, macro):
        shown = self.shown(card)
        c = card.case
        key = (*self.head, c.id, c.version, c.status, c.priority, c.number, c.title, c.unit, c.return_count,
               card.column, tuple(card.events), card.pick, tuple(card.moves), shown)
        html = self.cache.get(key)
        if html is None:
            html = macro(card, shown, self.links(c.id, card.events))
            self.cache.put(key, html)
        return html
