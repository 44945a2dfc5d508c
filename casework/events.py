"""Everything that describes a workflow event, in one table beside the workflow.

The machine (``casework.workflow``) says where an event leads; this table says the rest: what the
user supplies, who fires it from which state, the words on its button, on the staff timeline and
on the resident's tracking page, where a card dropped on a board column fires it, and what it does
to the case besides its status. The views, the policy, the board layout and the transitions
service read their old per-purpose maps from here (``EVENT_INPUTS``, ``EVENT_ORDER``,
``EVENT_ROLES``, ``labels.EVENT``/``BUTTON``, ``layout.MOVES``), and ``tests/test_events.py``
fails when an event of the machine is missing from the table or has a hole in it.

To add an event: add its transition to ``CaseWorkflow``, one ``EventSpec`` below (in button
order), its English in the catalog, and — only if the board offers it as a drop — a ``BoardMove``.

No SQLAlchemy and no app needed: the words are lazy strings, the effects set plain attributes.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from flask_babel import lazy_gettext as _l, lazy_pgettext as _lp

from casework.workflow import REJECT_REASONS, REROUTE_REASONS, RETURN_REASONS

__all__ = [
    "BoardMove", "EventSpec", "NO_BOARD_MOVE", "SPECS", "BY_NAME", "spec", "EVENT_INPUTS", "EVENT_ORDER",
    "EVENT_ROLES", "RESOLUTION_BY_EVENT", "INPUTS", "roles_of",
]

# The inputs an event may ask for (beyond the version the user saw):
#   note: free text; reason: a coded reason (+ note); organisation: the handler to send to;
#   duplicate_of: the case number that carries on; satisfaction: the call-back's rating;
#   photos: optional "after" photos sent with the same form (stored with the event, or nothing is);
#   building: the building (and so the grid) the case moves to; holder: whom an arbitration hands
#   the case to (grid / leader / organisation, with the organisation); deadline: a supervisor's
#   due time for the new handler (督办).
INPUTS = ("note", "reason", "organisation", "duplicate_of", "satisfaction", "photos", "building", "holder",
          "deadline")


@dataclass(frozen=True)
class BoardMove:
    """On `role`'s board, dropping a card of column `source` on column `target` fires the event.

    `cond`/`unless` name a workflow guard when the event's destination depends on it
    (a call-back "not solved" goes back to the handler only if one did the work).
    """

    role: str
    source: str
    target: str
    cond: str | None = None
    unless: str | None = None
    event: str = ""  # filled in by the EventSpec that lists the move


# Said on purpose: the event is offered by its button only, never as a drop between columns.
NO_BOARD_MOVE: tuple[BoardMove, ...] = ()

# What an event does to the case besides its status: f(case, clean inputs, time, source status).
Effect = Callable[[object, dict, dt.datetime, str], None]


@dataclass(frozen=True)
class EventSpec:
    """One workflow event, completely: see the module docstring."""

    name: str
    inputs: tuple[str, ...]
    # source status -> the role that fires it there (or a tuple of roles, any of which may: the two
    # supervisors); a source status missing here is nobody's.
    roles: Mapping[str, str | tuple[str, ...]]
    timeline: object          # what happened, on the staff timeline ("Signed for")
    button: object            # what to do, on a button ("Sign for")
    public: object            # what the resident reads on the tracking page (no names, no notes)
    board: tuple[BoardMove, ...]  # drops that fire it, or NO_BOARD_MOVE
    effect: Effect | None = None  # None: the status change is all it does
    resolution: str | None = None  # the closed case's resolution, for events that close it
    reasons: tuple[str, ...] = ()  # the coded reasons, for an event whose inputs include "reason"
    # the resident's own action in the second person, when a resident can fire it (public pages)
    public_by_resident: object | None = None
    # the dashboard figure it counts in (services/tallies.FIGURE_COLUMNS) and the status it must be
    # fired from to count (None: from any); None: no figure of its own
    tally: tuple[str, str | None] | None = None
    # A self-transition that still hands the case to someone new (re-route, 督办改派): the stage
    # clock restarts as if the case had entered the stage (docs/metrics.md, "Jurisdiction moves").
    restarts_clock: bool = False

    def __post_init__(self):
        object.__setattr__(self, "roles", MappingProxyType(dict(self.roles)))
        object.__setattr__(self, "board", tuple(replace(m, event=self.name) for m in self.board))

    def apply(self, case, clean: dict, at: dt.datetime, source: str) -> None:
        """What the event does to `case` besides its status: its effect, and closing it with its resolution.
        `case` is anything with the case's attributes (the transitions service's Case, the demo's rows)."""
        if self.effect is not None:
            self.effect(case, clean, at, source)
        if self.resolution:
            case.resolution = self.resolution
            case.closed_at = at


# ---- effects: one function per event that changes more than the status ------------------------------

def _assign(case, clean: dict, at, source: str) -> None:
    """dispatch_handler / hand_on: the organisation gets the case and must sign for it."""
    org = clean["organisation"]
    case.assigned_org_id = org.id
    case.handler_accepted_at = None
    if case.returned_org_id == org.id:  # sent back to the one that returned it: out of "returned"
        case.returned_org_id = None


def _accept(case, clean: dict, at, source: str) -> None:
    case.handler_accepted_at = at


def _resolved(case, clean: dict, at, source: str) -> None:
    case.resolved_at = at


def _return(case, clean: dict, at, source: str) -> None:
    if source == "handling":
        # A handler's return (退单): the organisation keeps sight of it in its "returned" column.
        case.returned_org_id = case.assigned_org_id
        case.assigned_org_id = None
        case.handler_accepted_at = None


def _reopen(case, clean: dict, at, source: str) -> None:
    case.resolved_at = None
    case.handler_accepted_at = None


def _move_place(case, clean: dict) -> None:
    """Re-route / arbitration: the case moves to the chosen building; its grid and community follow."""
    building = clean.get("building")
    if building is not None and building.id != case.building_id:
        # ids and objects both: the ids for what reads them before the flush, the objects so the
        # page rendered after it does not show the old place from the loaded relationships
        case.building, case.grid, case.community = building, building.grid, building.grid.community
        case.building_id, case.grid_id, case.community_id = building.id, building.grid_id, building.grid.community_id


def _reroute(case, clean: dict, at, source: str) -> None:
    """The case goes to the right grid's triage; nobody below the grid holds it any more."""
    _move_place(case, clean)
    case.via_leader = False


def _arbitrate(case, clean: dict, at, source: str) -> None:
    """The supervisor's binding decision: the chosen place, and the chosen holder gets the case."""
    _move_place(case, clean)
    if clean["holder"] == "organisation":
        _assign(case, clean, at, source)
    else:
        case.assigned_org_id = None
        case.handler_accepted_at = None


def _merge(case, clean: dict, at, source: str) -> None:
    case.duplicate_of_id = clean["duplicate_of"].id


def _close(case, clean: dict, at, source: str) -> None:
    case.satisfaction = clean["satisfaction"]


GRID, LEADER, HANDLER = "grid_staff", "building_leader", "handler"
SUPERVISOR = ("community_supervisor", "subdistrict_supervisor")  # each inside their jurisdiction
_FRONT = {"reported": GRID, "triage": GRID}  # the grid's first two stages

# The table, in the order buttons appear: the main way forward first, the side roads last.
SPECS: tuple[EventSpec, ...] = (
    EventSpec(
        "sign", (), {"reported": GRID},
        _lp("timeline", "签收"), _lp("button", "签收"), _l("网格员已签收"),
        (BoardMove(GRID, "new", "triage"),),
    ),
    EventSpec(
        "dispatch", (), {"triage": GRID},
        _lp("timeline", "派给楼栋长"), _lp("button", "派给楼栋长"), _l("已交楼栋长处理"),
        (BoardMove(GRID, "triage", "leader"),),
    ),
    EventSpec(
        "hand_on", ("organisation",), {"building_leader": LEADER},
        _lp("timeline", "转交承办单位"), _lp("button", "转交承办单位"), _l("已交承办单位办理"),
        (BoardMove(LEADER, "mine", "handed_on"),), effect=_assign,
    ),
    EventSpec(
        "accept", (), {"handling": HANDLER},
        _lp("timeline", "承办签收"), _lp("button", "承办签收"), _l("承办单位已接单"),
        (BoardMove(HANDLER, "to_sign", "in_progress"),), effect=_accept,
    ),
    EventSpec(
        "report_done", ("note", "photos"), {"handling": HANDLER},
        _lp("timeline", "办结反馈"), _lp("button", "办结反馈"), _l("已处理完毕，待确认"),
        (BoardMove(HANDLER, "to_sign", "done"), BoardMove(HANDLER, "in_progress", "done")),
        effect=_resolved,
    ),
    EventSpec(
        "close", ("satisfaction",), {"resolved": GRID},
        _lp("timeline", "回访办结"), _lp("button", "回访办结"), _l("回访确认已解决"),
        (BoardMove(GRID, "callback", "closed"),), effect=_close, resolution="solved",
        public_by_resident=_l("您确认已解决"), tally=("closes", "resolved"),
    ),
    EventSpec(
        "dispatch_handler", ("organisation",), {"triage": GRID},
        _lp("timeline", "直派承办单位"), _lp("button", "直派承办单位"), _l("已交承办单位办理"),
        (BoardMove(GRID, "triage", "handler"),), effect=_assign,
    ),
    EventSpec(
        "resolve", ("note",), {"triage": GRID, "building_leader": LEADER},
        _lp("timeline", "就地解决"), _lp("button", "就地解决"), _l("已处理完毕，待确认"),
        (BoardMove(GRID, "triage", "callback"), BoardMove(LEADER, "mine", "callback")), effect=_resolved,
    ),
    EventSpec(
        "reopen", ("note",), {"resolved": GRID},
        _lp("timeline", "回访未解决，重办"), _lp("button", "重办"), _l("回访反馈未解决，重新办理"),
        (BoardMove(GRID, "callback", "handler", cond="has_handler"),
         BoardMove(GRID, "callback", "triage", unless="has_handler")),
        effect=_reopen, public_by_resident=_l("您反馈未解决，重新办理"), tally=("reopens", "resolved"),
    ),
    EventSpec(
        "return_case", ("reason",), {"building_leader": LEADER, "handling": HANDLER},
        _lp("timeline", "退回"), _lp("button", "退回"), _l("重新分派办理"),
        (BoardMove(HANDLER, "to_sign", "returned"), BoardMove(HANDLER, "in_progress", "returned")),
        effect=_return, reasons=RETURN_REASONS, tally=("returns", None),
    ),
    EventSpec(
        "reroute", ("building", "reason"), {"triage": (GRID, *SUPERVISOR)},
        _lp("timeline", "改派网格"), _lp("button", "不属于本网格"), _l("已转至所属网格办理"),
        NO_BOARD_MOVE, effect=_reroute, reasons=REROUTE_REASONS, restarts_clock=True,
    ),
    EventSpec(
        "arbitrate", ("building", "holder", "note"), {"arbitration": SUPERVISOR},
        _lp("timeline", "仲裁"), _lp("button", "仲裁"), _l("社区已协调确定办理单位"),
        NO_BOARD_MOVE, effect=_arbitrate,
    ),
    EventSpec(
        "reassign", ("organisation", "deadline", "note"),
        {"triage": SUPERVISOR, "building_leader": SUPERVISOR, "handling": SUPERVISOR},
        _lp("timeline", "督办改派"), _lp("button", "督办改派"), _l("已督办并改派承办单位"),
        NO_BOARD_MOVE, effect=_assign, restarts_clock=True,
    ),
    EventSpec(
        "merge", ("duplicate_of",), _FRONT,
        _lp("timeline", "合并为重复"), _lp("button", "合并为重复"), _l("与相同事项合并办理"),
        NO_BOARD_MOVE, effect=_merge, resolution="duplicate",
    ),
    EventSpec(
        "reject", ("reason",), _FRONT,
        _lp("timeline", "不予受理"), _lp("button", "不予受理"), _l("不予受理"),
        NO_BOARD_MOVE, resolution="rejected", reasons=REJECT_REASONS,
    ),
    EventSpec(
        "withdraw", ("note",), _FRONT,
        _lp("timeline", "撤销"), _lp("button", "撤销"), _l("已撤销"),
        NO_BOARD_MOVE, resolution="withdrawn",
    ),
)
BY_NAME: dict[str, EventSpec] = {s.name: s for s in SPECS}


def spec(name: str) -> EventSpec | None:
    """The spec of a workflow event, or None for anything else (urge, comment, an unknown name)."""
    return BY_NAME.get(name)


# Views of the table under the names the code used before it existed.
EVENT_ORDER: tuple[str, ...] = tuple(s.name for s in SPECS)
EVENT_INPUTS: dict[str, tuple[str, ...]] = {s.name: s.inputs for s in SPECS}
EVENT_ROLES: dict[str, Mapping[str, str | tuple[str, ...]]] = {s.name: s.roles for s in SPECS}


def roles_of(event: str, status: str) -> tuple[str, ...]:
    """The roles that may fire `event` from `status` (a spec names one role, or a tuple of them)."""
    roles = EVENT_ROLES.get(event, {}).get(status)
    if roles is None:
        return ()
    return (roles,) if isinstance(roles, str) else tuple(roles)
RESOLUTION_BY_EVENT: dict[str, str] = {s.name: s.resolution for s in SPECS if s.resolution}
