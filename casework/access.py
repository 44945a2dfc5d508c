"""The access policy, in one place: which cases a user sees and which events they may fire.

Views, services and templates all ask this module; none of them re-implements a rule.

"Which cases may this user see" is one value, `Jurisdiction`: built once per request from the user
(`Jurisdiction.of(user)`; in a view `casework.ui.jurisdiction()` caches it for the request), it
answers in SQL (`clause`, `parts`, `over`, `grids`, `buildings`, `communities`) and in Python
(`contains`, `acts_for`), and gives a key for caches and ETags (`key`). Every function below
takes either a `User` or a `Jurisdiction`; hand it the jurisdiction when asking many times (a
board asks for every card).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from casework.events import EVENT_ORDER, EVENT_ROLES, roles_of  # noqa: F401 (EVENT_ROLES re-exported); one spec per event
from casework.extensions import db
from casework.models import Building, Case, CaseAssist, Community, Grid, User
from casework.workflow import enabled_events

SUPERVISORS = ("community_supervisor", "subdistrict_supervisor")
INTAKE_ROLES = ("grid_staff",) + SUPERVISORS
# The admin configures the system and has no case jurisdiction (三员分立: the system admin does not
# read residents' cases; docs/deploy.md). The auditor reads the audit log and nothing else.
SEE_ALL = ("subdistrict_supervisor",)

_NONE: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Jurisdiction:
    """Which cases (and places) one user may see: the role and the ids its rule reads.

    Each role reads one kind of id; the other sets are empty:
    - subdistrict supervisor: everything (no ids); the admin and the auditor: nothing (三员分立);
    - community supervisor: `community_ids` (the user's community);
    - grid staff: `grid_ids`; building leader: `building_ids`;
    - handler: `organisation_id` (cases assigned to the organisation, returned by it, or that it
      assists on: a `CaseAssist` part, 协办).
    Anyone else sees nothing. The value is immutable and holds no database object, so it can be
    kept for a request, compared, hashed and turned into a cache key (`key`).
    """

    role: str
    user_id: int | None = None
    organisation_id: int | None = None
    community_ids: frozenset[int] = _NONE
    grid_ids: frozenset[int] = _NONE
    building_ids: frozenset[int] = _NONE

    @classmethod
    def of(cls, user: User) -> Jurisdiction:
        """The user's jurisdiction (reads the user's grids or buildings: one query if not loaded yet)."""
        role = user.role
        return cls(
            role=role,
            user_id=user.id,
            organisation_id=user.organisation_id if role == "handler" else None,
            community_ids=(frozenset({user.community_id})
                           if role == "community_supervisor" and user.community_id is not None else _NONE),
            grid_ids=frozenset(g.id for g in user.grids) if role == "grid_staff" else _NONE,
            building_ids=frozenset(b.id for b in user.buildings) if role == "building_leader" else _NONE,
        )

    @property
    def sees_all(self) -> bool:
        return self.role in SEE_ALL

    @property
    def key(self) -> str:
        """A short stable string naming this jurisdiction and its viewer (cache keys, ETags)."""
        def ids(s: frozenset[int]) -> str:
            return ",".join(map(str, sorted(s)))
        return (f"{self.role}:u{self.user_id}:o{self.organisation_id or ''}:c{ids(self.community_ids)}"
                f":g{ids(self.grid_ids)}:b{ids(self.building_ids)}")

    # ---- the rule, in SQL ------------------------------------------------------------------------

    def clause(self) -> ColumnElement[bool]:
        """A WHERE clause on Case selecting exactly the cases this user may see.

        The ids are written as literals (not a subquery of user_grids): the database then walks the
        (grid|building|community, status, updated_at) index for a page of 50 instead of scanning a
        status across the whole subdistrict (5x faster per board column on 100,000 cases).
        Must stay equal to `contains`.
        """
        parts = self.parts()
        return parts[0] if len(parts) == 1 else or_(*parts)

    def parts(self) -> list[ColumnElement[bool]]:
        """`clause()` as disjoint clauses whose union is exactly the scope (counts add up).

        A handler's scope is an OR over two columns (assigned to its organisation, or returned by
        it) and its assisting parts (协办); counting over the OR makes the database merge indexes and
        read every row, while each part alone reads one (org, status, time) index (the assisting
        part: the organisation's few case ids from `ix_case_assist_org_case`). Every other scope is
        one part.
        """
        role = self.role
        if role in SEE_ALL:
            return [true()]
        if role == "community_supervisor":
            return [_among(Case.community_id, self.community_ids)]
        if role == "grid_staff":
            return [_among(Case.grid_id, self.grid_ids)]
        if role == "building_leader":
            return [_among(Case.building_id, self.building_ids)]
        if role == "handler" and self.organisation_id:
            org = self.organisation_id
            not_lead = or_(Case.assigned_org_id.is_(None), Case.assigned_org_id != org)
            return [Case.assigned_org_id == org,
                    and_(Case.returned_org_id == org, not_lead),
                    and_(assisted_by(org), not_lead,
                         or_(Case.returned_org_id.is_(None), Case.returned_org_id != org))]
        return [false()]

    def over(self, *, community, grid, building, org) -> ColumnElement[bool]:
        """The jurisdiction over another table's place columns (the report rollups).

        A rollup row keeps a case's place and its current organisation, not who returned it: a
        handler's part is the cases currently assigned to it (what its reports count).
        """
        role = self.role
        if role in SEE_ALL:
            return true()
        if role == "community_supervisor":
            return _among(community, self.community_ids)
        if role == "grid_staff":
            return _among(grid, self.grid_ids)
        if role == "building_leader":
            return _among(building, self.building_ids)
        if role == "handler" and self.organisation_id:
            return org == self.organisation_id
        return false()

    def grids(self) -> ColumnElement[bool]:
        """A WHERE clause on Grid: the grids this user's cases can be in (none for a handler)."""
        role = self.role
        if role in SEE_ALL:
            return true()
        if role == "community_supervisor":
            return _among(Grid.community_id, self.community_ids)
        if role == "grid_staff":
            return _among(Grid.id, self.grid_ids)
        if role == "building_leader":
            return (Grid.id.in_(select(Building.grid_id).where(_among(Building.id, self.building_ids)))
                    if self.building_ids else false())
        return false()

    def buildings(self) -> ColumnElement[bool]:
        """A WHERE clause on Building: the buildings in the jurisdiction (none for a handler)."""
        role = self.role
        if role in SEE_ALL:
            return true()
        if role == "community_supervisor":
            return (Building.grid_id.in_(select(Grid.id).where(_among(Grid.community_id, self.community_ids)))
                    if self.community_ids else false())
        if role == "grid_staff":
            return _among(Building.grid_id, self.grid_ids)
        if role == "building_leader":
            return _among(Building.id, self.building_ids)
        return false()

    def communities(self) -> ColumnElement[bool]:
        """A WHERE clause on Community: the communities wholly in the jurisdiction (reports' picker)."""
        if self.role in SEE_ALL:
            return true()
        if self.role == "community_supervisor":
            return _among(Community.id, self.community_ids)
        return false()

    # ---- the rule, as change counters (the boards' ETag) ------------------------------------------

    def counter_keys(self) -> tuple[tuple[str, int], ...]:
        """The `scope_counter` rows whose values change whenever a case this user may see changes.

        Kinds per role as in `parts()`; the subdistrict reads every community's row (`("community",
        None)` means all of them), a handler its organisation's (bumped for the assigned, the
        returned-by and every assisting organisation alike: services/boards/changes.py). What must stay equal: for every case `contains` accepts,
        `case_counter_keys(case)` shares a key with this (tests/test_poll.py checks it on every
        demo user and case); a new way of seeing a case adds its key on both sides.
        """
        role = self.role
        if role in SEE_ALL:
            return (("community", None),)
        if role == "community_supervisor":
            return tuple(("community", i) for i in sorted(self.community_ids))
        if role == "grid_staff":
            return tuple(("grid", i) for i in sorted(self.grid_ids))
        if role == "building_leader":
            return tuple(("building", i) for i in sorted(self.building_ids))
        if role == "handler" and self.organisation_id:
            return (("org", self.organisation_id),)
        return ()

    # ---- the rule, in Python -------------------------------------------------------------------

    def contains(self, case: Any) -> bool:
        """Whether the case (a Case, or anything with its columns) is inside: equal to `clause()`."""
        role = self.role
        if role in SEE_ALL:
            return True
        if role == "community_supervisor":
            return case.community_id in self.community_ids
        if role == "grid_staff":
            return case.grid_id in self.grid_ids
        if role == "building_leader":
            return case.building_id in self.building_ids
        if role == "handler":
            return self.organisation_id is not None and (
                self.organisation_id in (case.assigned_org_id, case.returned_org_id)
                or self.organisation_id in assisting_orgs(case))
        return False

    def acts_for(self, case: Any, role: str) -> bool:
        """Whether the user holds `role` for this case (not merely sees it)."""
        if self.role != role:
            return False
        if role == "grid_staff":
            return case.grid_id in self.grid_ids
        if role == "building_leader":
            return case.building_id in self.building_ids
        if role == "handler":
            return self.organisation_id is not None and case.assigned_org_id == self.organisation_id
        if role in SUPERVISORS:  # a supervisor acts on what they supervise (督办, arbitration)
            return self.contains(case)
        return False


def assisted_by(org_id: int) -> ColumnElement[bool]:
    """A WHERE clause on Case: the cases the organisation has an assisting part in (协办). Must stay
    equal to `assisting_orgs` below."""
    return Case.id.in_(select(CaseAssist.case_id).where(CaseAssist.organisation_id == org_id))


def assisting_orgs(case: Any) -> frozenset[int]:
    """The organisations with an assisting part in the case (one small query; `assisted_by` in SQL)."""
    case_id = getattr(case, "id", None)
    if case_id is None:
        return _NONE
    return frozenset(db.session.scalars(select(CaseAssist.organisation_id).where(CaseAssist.case_id == case_id)))
def case_counter_keys(values: dict) -> set[tuple[str, int]]:
    """The `scope_counter` rows a change to a case with these column values bumps (see `counter_keys`).

    `values` maps community_id, grid_id, building_id, assigned_org_id, returned_org_id to ids
    (None or absent: no key). Every jurisdiction that `contains` the case reads one of these.
    """
    kinds = (("community", "community_id"), ("grid", "grid_id"), ("building", "building_id"),
             ("org", "assigned_org_id"), ("org", "returned_org_id"))
    return {(kind, values[name]) for kind, name in kinds if values.get(name) is not None}


CASE_COUNTER_COLUMNS = ("community_id", "grid_id", "building_id", "assigned_org_id", "returned_org_id")


def _among(column, ids: frozenset[int]) -> ColumnElement[bool]:
    if not ids:
        return false()
    return column == next(iter(ids)) if len(ids) == 1 else column.in_(sorted(ids))


Who = User | Jurisdiction


def jurisdiction_of(who: Who) -> Jurisdiction:
    """`who` itself if it is a Jurisdiction, else the user's (built afresh: pass one along when asking often)."""
    return who if isinstance(who, Jurisdiction) else Jurisdiction.of(who)


def scope_clause(who: Who) -> ColumnElement[bool]:
    """Thin wrapper kept for existing callers: `jurisdiction_of(who).clause()`."""
    return jurisdiction_of(who).clause()


def can_view(who: Who, case: Case) -> bool:
    """Whether the case is inside the user's jurisdiction."""
    return jurisdiction_of(who).contains(case)


def _acts_for(who: Who, case: Case, role: str) -> bool:
    return who.role == role and jurisdiction_of(who).acts_for(case, role)


def may_fire(user: Who, case: Case, event: str) -> bool:
    """Whether this user may fire this event on this case in its current state (ignoring guards)."""
    return any(_acts_for(user, case, role) for role in roles_of(event, case.status))  # events.EventSpec.roles


def events_for(user: Who, case: Case) -> list[str]:
    """The events this user may fire now: the workflow's enabled events filtered by the policy."""
    if not case.is_open:
        return []
    user = jurisdiction_of(user)
    allowed = {e for e in enabled_events(case) if may_fire(user, case, e)}
    return [e for e in EVENT_ORDER if e in allowed]


def may_urge(user: Who, case: Case) -> bool:
    """Supervisors urge (催办) open cases in their scope."""
    return user.role in SUPERVISORS and case.is_open and can_view(user, case)


def may_reveal_phone(user: Who, case: Case) -> bool:
    """Grid staff of the case and its supervisors may see the full number (and numbers typed into the
    case's text), on a recorded action."""
    if not case.reporter_phone and not case.phones_in_text():
        return False
    return (user.role == "grid_staff" and _acts_for(user, case, "grid_staff")) or (
        user.role in SUPERVISORS and can_view(user, case)
    )


def may_search_by_phone(user: Who) -> bool:
    """Those who may reveal a resident's phone may look cases up by it (in their own scope)."""
    return user.role == "grid_staff" or user.role in SUPERVISORS


def may_record_callback(user: Who, case: Case) -> bool:
    return may_fire(user, case, "close")


def may_request_extension(user: Who, case: Case) -> bool:
    """Whoever holds the case may ask for more time (延期) or to park it (挂账): the handler while
    handling it, the building leader while mediating it."""
    return (case.status == "handling" and _acts_for(user, case, "handler")) or (
        case.status == "building_leader" and _acts_for(user, case, "building_leader"))


def may_decide_extension(user: Who, case: Case) -> bool:
    """Community supervisors (and the subdistrict) approve or refuse extensions in their scope."""
    return user.role in SUPERVISORS and can_view(user, case)


def may_resume(user: Who, case: Case) -> bool:
    """A parked case is resumed by its handler or a supervisor."""
    return case.parked_at is not None and (may_request_extension(user, case) or may_decide_extension(user, case))


def may_add_after_photo(user: Who, case: Case) -> bool:
    """The handler organisation working the case adds "after" photos while handling or awaiting
    call-back; so does an assisting organisation (协办) for its part."""
    return case.status in ("handling", "resolved") and (
        _acts_for(user, case, "handler") or assists_on(user, case))


# ---- lead and assisting handlers (主办 / 协办; services/assists.py) ------------------------------
def may_request_assist(user: Who, case: Case) -> bool:
    """While a handler organisation leads the case (handling), the grid staff who dispatch, the lead
    organisation's handlers and the supervisors of the case add assisting organisations."""
    if case.status != "handling" or case.assigned_org_id is None:
        return False
    return (_acts_for(user, case, "grid_staff") or _acts_for(user, case, "handler")
            or (user.role in SUPERVISORS and can_view(user, case)))


def assists_on(user: Who, case: Case) -> bool:
    """Whether the user is a handler of an organisation assisting on the (open) case, not its lead."""
    if user.role != "handler" or not case.is_open:
        return False
    org = jurisdiction_of(user).organisation_id
    return org is not None and org != case.assigned_org_id and org in assisting_orgs(case)


def may_work_assist(user: Who, case: Case, part: CaseAssist) -> bool:
    """The assisting organisation's handlers add notes to their part and report it done while it is open."""
    return (part.is_open and user.role == "handler" and part.case_id == case.id
            and jurisdiction_of(user).organisation_id == part.organisation_id and assists_on(user, case))


# Page-level permissions: which areas a role opens at all (the case-level rules are above).
def may_take_intake(user: Who) -> bool:
    """Grid staff and supervisors record cases taken by phone, at the counter or on patrol."""
    return user.role in INTAKE_ROLES


def may_use_board(user: Who) -> bool:
    """Everyone who works cases has a board; the admin configures and has none, nor has the auditor."""
    return user.role not in ("admin", "auditor")


def may_view_reports(user: Who) -> bool:
    """Every level sees its own figures: supervisors their area, grid staff their grids, building
    leaders their buildings, a handler its own organisation's cases (docs/metrics.md, Scope)."""
    if user.role in ("handler", "community_supervisor", "grid_staff", "building_leader"):
        j = jurisdiction_of(user)
        return bool(j.organisation_id is not None or j.community_ids or j.grid_ids or j.building_ids)
    return user.role == "subdistrict_supervisor"


def may_see_hotspots(user: Who) -> bool:
    """Supervisors see where problems repeat in their area (未诉先办) and open proactive cases."""
    if user.role == "community_supervisor":
        return bool(jurisdiction_of(user).community_ids)
    return user.role == "subdistrict_supervisor"


may_open_proactive_case = may_see_hotspots


def may_administer(user: Who) -> bool:
    return user.role == "admin"


def may_bulk_sign(user: Who) -> bool:
    return user.role == "grid_staff"


def may_bulk_urge(user: Who) -> bool:
    return user.role in SUPERVISORS


# Separation of duties (三员): the auditor reads the audit log and nothing else; the admin no cases.
AUDITOR_ENDPOINTS = ("audit.", "auth.", "static")


def may_read_audit(user: User) -> bool:
    """Only the auditor reads the audit log (the admin's own acts are in it)."""
    return user.role == "auditor"


def may_list_cases(user: User) -> bool:
    """Case lists are for those who work or supervise cases: not the admin, not the auditor."""
    return user.role not in ("admin", "auditor")


def may_open_endpoint(user: User, endpoint: str | None) -> bool:
    """Deny by default for the auditor: only the audit pages, logging in and out, and static files."""
    if user.role != "auditor":
        return True
    return bool(endpoint) and endpoint.startswith(AUDITOR_ENDPOINTS)
# ---- structure administration (admin screens, services/structure.py) --------------------------------
# The admin manages everything; a community supervisor manages their own community's grids,
# buildings and building leaders (and nothing else there: organisations, categories, accounts).
SUPERVISOR_MANAGES = ("grid", "building", "user")


def may_open_admin(user: User) -> bool:
    """Who opens the structure screens at all."""
    return user.role == "admin" or (user.role == "community_supervisor" and user.community_id is not None)


def may_manage_all_structure(user: User) -> bool:
    return user.role == "admin"


def may_edit_structure(user: User, kind: str, row) -> bool:
    """Whether the user may create (row None) or change this row of the structure."""
    if user.role == "admin":
        return True
    if not may_open_admin(user) or kind not in SUPERVISOR_MANAGES:
        return False
    if row is None:
        return True
    if kind == "grid":
        return row.community_id == user.community_id
    if kind == "building":
        return row.grid is not None and row.grid.community_id == user.community_id
    return may_edit_user(user, row)


def may_edit_user(user: User, target: User) -> bool:
    """The admin edits every account; a community supervisor only building leaders of their community."""
    if user.role == "admin":
        return True
    if user.role != "community_supervisor" or user.community_id is None or target.role != "building_leader":
        return False
    return bool(target.buildings) and all(b.grid.community_id == user.community_id for b in target.buildings)
# Volunteers (志愿服务): who manages which team and activity. A team is managed by its staff leader,
# by the handlers of its partner organisation, by its community's supervisor and by the subdistrict.
# Volunteers: staff access reads the Jurisdiction (a community supervisor's community_ids, a handler's
# organisation_id), like cases do; views pass ui.jurisdiction().

def may_open_volunteers(who: Who) -> bool:
    """Supervisors and the handlers of partner organisations open the volunteer screens."""
    j = jurisdiction_of(who)
    return j.role in SUPERVISORS or (j.role == "handler" and j.organisation_id is not None)


def may_manage_team(who: Who, team) -> bool:
    """Approve joining, organise activities and confirm hours for this team."""
    j = jurisdiction_of(who)
    if j.role == "subdistrict_supervisor" or team.leader_user_id == j.user_id:
        return True
    if j.role == "community_supervisor":
        return team.community_id in j.community_ids
    if j.role == "handler":
        return j.organisation_id is not None and team.organisation_id == j.organisation_id
    return False


def may_manage_activity(who: Who, activity) -> bool:
    return may_manage_team(who, activity.team)


def may_serve_volunteer(who: Who, volunteer) -> bool:
    """Supervisors see a volunteer's card and ledger, redeem gifts and correct entries in their scope."""
    j = jurisdiction_of(who)
    if j.role == "subdistrict_supervisor":
        return True
    return j.role == "community_supervisor" and volunteer.community_id in j.community_ids


def may_review_ratings(who: Who) -> bool:
    """Community supervisors (their community) and the subdistrict review, publish and confirm stars."""
    j = jurisdiction_of(who)
    return j.role == "subdistrict_supervisor" or (j.role == "community_supervisor" and bool(j.community_ids))


def rating_scope(who: Who) -> int | None:
    """The community whose ratings the user reviews (None: every community)."""
    j = jurisdiction_of(who)
    return None if j.role == "subdistrict_supervisor" else next(iter(j.community_ids), None)


def may_manage_partners(who: Who, community_id: int | None = None) -> bool:
    """Community supervisors (their community) and the subdistrict keep partners' agreements and
    plans, link activities to plans and read the volunteer dashboard (the ratings' reviewers)."""
    return may_review_ratings(who) and (community_id is None or rating_scope(who) in (None, community_id))


def partner_scope(who: Who) -> int | None:
    """The community whose partners and volunteer figures the user sees (None: every community)."""
    return rating_scope(who)
