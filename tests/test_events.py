"""Every workflow event is described completely in casework.events, and only there.

A new event that forgets its roles, its words, its English, its board moves (or the explicit
NO_BOARD_MOVE) or its public text fails here, before a user finds the hole.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from casework import events, labels
from casework.events import INPUTS, SPECS, EventSpec
from casework.services.boards import layout
from casework.workflow import EVENTS, RESOLUTIONS, STATUSES, CaseWorkflow

ROOT = Path(__file__).resolve().parent.parent


def _english() -> dict[tuple[str | None, str], str]:
    """(context, msgid) -> English, from the catalog and the helpers' fragments waiting to be merged."""
    found: dict[tuple[str | None, str], str] = {}
    for path in [ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po",
                 *sorted((ROOT / "translations" / "fragments").glob("*.po"))]:
        with open(path, "rb") as f:
            for msg in read_po(f, locale="en"):
                if msg.id and msg.string and "fuzzy" not in msg.flags:
                    found[(msg.context, msg.id)] = msg.string
    return found


ENGLISH = _english()


def _msg(text) -> tuple[str | None, str] | None:
    """The (context, msgid) behind a lazy string from _l or _lp, None for anything else."""
    args = getattr(text, "_args", None)
    if not args:
        return None
    return (args[0], args[1]) if len(args) == 2 else (None, args[0])


def _sources(event: str) -> set[str]:
    return {t.source.id for s in CaseWorkflow.states for t in s.transitions if event in t.event.split()}


def _targets(event: str) -> set[str]:
    return {t.target.id for s in CaseWorkflow.states for t in s.transitions if event in t.event.split()}


def problems(spec: EventSpec) -> list[str]:
    """What is missing or wrong in one event's spec (empty when it is complete)."""
    out = []
    if spec.name not in EVENTS:
        out.append("not an event of CaseWorkflow")
    if not isinstance(spec.inputs, tuple) or not set(spec.inputs) <= set(INPUTS):
        out.append(f"inputs {spec.inputs!r} are not a tuple of {INPUTS}")
    if ("reason" in spec.inputs) != bool(spec.reasons):
        out.append("an event asking for a reason lists its coded reasons, and only then")
    if set(spec.roles) != _sources(spec.name):
        out.append(f"roles cover {sorted(spec.roles)}, the machine fires it from {sorted(_sources(spec.name))}")
    # a state names one role, or a tuple of roles any of which may fire it (the two supervisors)
    roles = {r for v in spec.roles.values() for r in ((v,) if isinstance(v, str) else v)}
    if not roles <= set(labels.ROLE):
        out.append(f"unknown roles {roles - set(labels.ROLE)}")
    for what in ("timeline", "button", "public", "public_by_resident"):
        text = getattr(spec, what)
        if text is None and what == "public_by_resident":
            continue
        key = _msg(text)
        if key is None:
            out.append(f"{what} is not a translatable string")
        elif not ENGLISH.get(key):
            out.append(f"{what} {key} has no English in translations/en (or a fragment)")
    if _msg(spec.timeline) and _msg(spec.timeline)[0] != "timeline":
        out.append("the timeline words need the 'timeline' context")
    if _msg(spec.button) and _msg(spec.button)[0] != "button":
        out.append("the button words need the 'button' context")
    if not isinstance(spec.board, tuple):
        out.append("board is a tuple of BoardMove, or NO_BOARD_MOVE")
    for m in spec.board:
        keys = {c.key for c in layout.COLUMNS.get(m.role, ())}
        if m.role not in roles:
            out.append(f"{m.role} has a drop for an event that is not theirs")
        if m.source not in keys or m.target not in keys:
            out.append(f"{m.role}'s board has no column {m.source!r} or {m.target!r}")
        for guard in filter(None, (m.cond, m.unless)):
            if not callable(getattr(CaseWorkflow, guard, None)):
                out.append(f"no workflow guard {guard!r}")
    if spec.resolution is not None and spec.resolution not in RESOLUTIONS:
        out.append(f"unknown resolution {spec.resolution!r}")
    if (spec.resolution is not None) != (_targets(spec.name) == {"closed"}):
        out.append("an event that closes the case names its resolution, and only then")
    if spec.effect is not None and not callable(spec.effect):
        out.append("effect is a function or None")
    return out


def test_the_table_holds_exactly_the_workflows_events_in_button_order():
    assert sorted(events.BY_NAME) == sorted(EVENTS)
    assert len(SPECS) == len(EVENTS)
    assert events.EVENT_ORDER == tuple(s.name for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_event_is_complete_everywhere(spec):
    assert problems(spec) == []


@pytest.mark.parametrize("hole", [
    {"roles": {"reported": "grid_staff"}},           # merge: triage forgotten
    {"button": "合并为重复"},                          # a plain string: never translated
    {"public": None},
    {"timeline": events.BY_NAME["sign"].button},      # the button's context on the timeline
    {"resolution": None},                             # closes the case without a resolution
    {"inputs": ("reason",)},                          # a reason without its codes
    {"board": (events.BoardMove("grid_staff", "new", "nowhere"),)},
])
def test_a_spec_with_a_hole_is_caught(hole):
    """The completeness check itself can fail: each kind of hole in `merge` is reported."""
    broken = dataclasses.replace(events.BY_NAME["merge"], **hole)
    assert problems(events.BY_NAME["merge"]) == []
    assert problems(broken) != []


def test_the_old_per_purpose_maps_are_views_of_the_table():
    from casework import access
    from casework.public.views import EVENT_TEXT
    for s in SPECS:
        assert access.EVENT_ROLES[s.name] == s.roles
        assert labels.EVENT[s.name] is s.timeline and labels.BUTTON[s.name] is s.button
        assert EVENT_TEXT[s.name] is s.public
        assert events.EVENT_INPUTS[s.name] == s.inputs
        assert [(m.source, m.target) for m in layout.MOVES.get("grid_staff", ()) if m.event == s.name] == [
            (m.source, m.target) for m in s.board if m.role == "grid_staff"]


def test_the_dashboard_figures_are_read_from_the_table():
    """tallies counts an event in the figure its spec names, only when fired from the status named there."""
    from casework.services import tallies
    counted = {s.name: s.tally for s in SPECS if s.tally}
    assert counted == {"close": ("closes", "resolved"), "reopen": ("reopens", "resolved"),
                       "return_case": ("returns", None)}
    for figure, only_from in counted.values():
        assert figure in tallies.FIGURE_COLUMNS and (only_from is None or only_from in STATUSES)
    assert tallies._tally_of("close", "resolved") == "closes" and tallies._tally_of("close", "triage") is None
    assert tallies._tally_of("return_case", "handling") == "returns" and tallies._tally_of("sign", "reported") is None
