"""Who gets what. Groups: the robots bound to a case's grid / community / organisation. People: the
personal channels (mail, SMS) each user subscribed to, in their language, held back in their quiet
hours unless the case is an emergency. Everything is written to the outbox in the caller's
transaction; nothing is sent from here."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import and_, bindparam, or_, select

from casework.extensions import db
from casework.models import (
    Building, Case, Category, Community, Grid, NoticeChannel, NoticePreference, NoticeSubscription, User,
    user_buildings, user_grids,
)
from casework.models.notices import PERSONAL_KINDS
from casework.services.notices.content import NoticeFacts, render
from casework.services.notices.outbox import enqueue
from casework.timekeeping import now

# Lateness rungs go to the group of the level that deals with them.
LADDER_SCOPES = {
    "warning": ("grid", "organisation"),
    "urge": ("grid", "organisation"),
    "manual_urge": ("grid", "organisation"),
    "supervise": ("community",),
    "supervise_subdistrict": ("community",),
}


# Statements built once (building SQLAlchemy expressions costs more than running these on SQLite):
# a transition's share of the outbox stays small.
_SUBSCRIPTIONS = (
    select(NoticeSubscription.user_id, NoticeSubscription.channel_id, NoticeSubscription.address)
    .join(NoticeChannel, NoticeChannel.id == NoticeSubscription.channel_id)
    .where(NoticeSubscription.user_id.in_(bindparam("ids", expanding=True)), NoticeSubscription.active.is_(True),
           NoticeChannel.active.is_(True), NoticeChannel.kind.in_(PERSONAL_KINDS))
)
_PREFERENCES = select(NoticePreference).where(NoticePreference.user_id.in_(bindparam("ids", expanding=True)))

# The SMS gateway the admin chose for the residents of a community's subdistrict.
_RESIDENT_CHANNEL = (
    select(NoticeChannel.id)
    .join(Community, Community.subdistrict_id == NoticeChannel.residents_subdistrict_id)
    .where(Community.id == bindparam("community"), NoticeChannel.active.is_(True), NoticeChannel.kind == "sms")
    .order_by(NoticeChannel.id).limit(1)
)


def resident_channel(community_id: int) -> int | None:
    """The id of the residents' SMS channel of the community's subdistrict, or None."""
    return db.session.scalar(_RESIDENT_CHANNEL, {"community": community_id})


# Who receives a hand-off, with their personal channels and settings, in ONE statement per kind of
# receiver: a user with no subscription is one row with NULL address; NULL language = no settings.
_ACTIVE_SUBSCRIPTION = (
    select(NoticeSubscription.user_id, NoticeSubscription.channel_id, NoticeSubscription.address)
    .join(NoticeChannel, NoticeChannel.id == NoticeSubscription.channel_id)
    .where(NoticeSubscription.active.is_(True), NoticeChannel.active.is_(True),
           NoticeChannel.kind.in_(PERSONAL_KINDS))
    .subquery()
)


def _people(*where, join=None):
    query = select(User.id, _ACTIVE_SUBSCRIPTION.c.channel_id, _ACTIVE_SUBSCRIPTION.c.address,
                   NoticePreference.language, NoticePreference.quiet_start, NoticePreference.quiet_end)
    if join is not None:
        query = query.join(*join)
    return (query.outerjoin(_ACTIVE_SUBSCRIPTION, _ACTIVE_SUBSCRIPTION.c.user_id == User.id)
            .outerjoin(NoticePreference, NoticePreference.user_id == User.id)
            .where(User.active.is_(True), *where)
            .order_by(User.id, _ACTIVE_SUBSCRIPTION.c.channel_id))


# Must stay equal to escalation.holders (the people holding a case in each holder_role), read by handoffs.receivers.
PEOPLE = {
    "grid_staff": _people(user_grids.c.grid_id == bindparam("id"), User.role == "grid_staff",
                          join=(user_grids, user_grids.c.user_id == User.id)),
    "building_leaders": _people(user_buildings.c.building_id == bindparam("id"),
                                join=(user_buildings, user_buildings.c.user_id == User.id)),
    "handlers": _people(User.organisation_id == bindparam("id"), User.role == "handler"),
    "community_supervisors": _people(User.community_id == bindparam("id"), User.role == "community_supervisor"),
}


class Recipient(NamedTuple):
    """One user × one of their personal channels (channel_id None: in-app only)."""

    user_id: int
    channel_id: int | None
    address: str | None
    language: str | None
    quiet_start: dt.time | None
    quiet_end: dt.time | None


def recipients(who: str, ref_id: int | None) -> list[Recipient]:
    """The users of one kind (grid staff of a grid, leaders of a building, handlers of an organisation)
    with their subscriptions and settings: the routing of a hand-off in one statement."""
    if ref_id is None:
        return []
    return [Recipient(*r) for r in db.session.execute(PEOPLE[who], {"id": ref_id})]


# A case's names for its notices and the group robots bound to its grid / community / organisation,
# together: one row per channel, or one row with NULL channel when none is bound.
_NAMES_AND_GROUPS = (
    select(Category.name_zh, Category.name_en, Building.name, Grid.name, NoticeChannel.id)
    .select_from(Category)
    .join(Building, Building.id == bindparam("building"))
    .join(Grid, Grid.id == bindparam("grid_of_case"))
    .outerjoin(NoticeChannel, and_(
        NoticeChannel.active.is_(True), NoticeChannel.kind.not_in(PERSONAL_KINDS),
        or_(NoticeChannel.grid_id == bindparam("grid"), NoticeChannel.community_id == bindparam("community"),
            NoticeChannel.organisation_id == bindparam("organisation"))))
    .where(Category.id == bindparam("category"))
    .order_by(NoticeChannel.id)
)


def facts_of(case: Case) -> NoticeFacts:
    """The case's notice facts, read once per version of the case (a transition asks twice)."""
    cached = case.__dict__.get("_notice_facts")
    if cached is None or cached[0] != case.version:
        cached = (case.version, NoticeFacts.of(case))
        case.__dict__["_notice_facts"] = cached
    return cached[1]


def quiet_until(pref: NoticePreference | None, at: dt.datetime) -> dt.datetime | None:
    """The end of the user's quiet hours when `at` falls inside them (the window may span midnight)."""
    if pref is None or pref.quiet_start is None or pref.quiet_end is None or pref.quiet_start == pref.quiet_end:
        return None
    t, start, end = at.time(), pref.quiet_start, pref.quiet_end
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = at.date() if t < end else at.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end)


def to_people(user_ids, case: Case, kind: str, level_key: str, recipients: list[Recipient] | None = None,
              **values) -> int:
    """Copy an in-app notice onto each user's personal channels; returns how many were queued.

    `recipients` (from `recipients()`) spare the two look-ups of subscriptions and settings."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    if recipients is not None:
        wanted = set(ids)
        subs = [(r.user_id, r.channel_id, r.address) for r in recipients
                if r.channel_id is not None and r.user_id in wanted]
        if not subs:
            return 0
        prefs = {r.user_id: r for r in recipients if r.language is not None}
    else:
        subs = db.session.execute(_SUBSCRIPTIONS, {"ids": ids}).all()
        if not subs:
            return 0
        prefs = {p.user_id: p for p in db.session.scalars(_PREFERENCES, {"ids": ids})}
    facts = facts_of(case)
    at = now()
    queued = 0
    for user_id, channel_id, address in subs:
        pref = prefs.get(user_id)
        payload = render(kind, facts, pref.language if pref else "zh_Hans_CN", **values)
        held = None if facts.emergency else quiet_until(pref, at)
        # Keys are unique by construction (level_key names the event, rung or request), so the
        # lookup for an existing key is skipped; the unique index still guards it.
        if enqueue(channel_id, payload, key=f"{kind}:{case.id}:{level_key}:u{user_id}:c{channel_id}",
                   destination=address, kind=kind, case_id=case.id, user_id=user_id,
                   emergency=facts.emergency, held_until=held, check_existing=False):
            queued += 1
    return queued


def names_and_groups(case: Case, scopes: tuple[str, ...]) -> list[int]:
    """The ids of the group robots bound to the case's places in `scopes`; the case's notice facts are
    read in the same statement (and kept for this version of the case, as `facts_of` does)."""
    rows = db.session.execute(_NAMES_AND_GROUPS, {
        "category": case.category_id, "building": case.building_id, "grid_of_case": case.grid_id,
        "grid": case.grid_id if "grid" in scopes else None,
        "community": case.community_id if "community" in scopes else None,
        "organisation": case.assigned_org_id if "organisation" in scopes else None}).all()
    if rows:
        first = rows[0]
        facts = NoticeFacts(case_id=case.id, number=case.number or "", category_zh=first[0], category_en=first[1],
                            building=first[2], grid=first[3], status=case.status,
                            emergency=case.priority == "emergency")
        case.__dict__["_notice_facts"] = (case.version, facts)
    return [r[4] for r in rows if r[4] is not None]


def to_groups(case: Case, kind: str, level_key: str, scopes: tuple[str, ...], **values) -> int:
    """Queue one message per bound group robot; returns how many were queued."""
    channels = names_and_groups(case, scopes)
    if not channels:
        return 0
    facts = facts_of(case)
    payload = render(kind, facts, "zh_Hans_CN", **values)
    return sum(1 for ch in channels if enqueue(
        ch, payload, key=f"{kind}:{case.id}:{level_key}:c{ch}", kind=kind, case_id=case.id,
        emergency=facts.emergency, check_existing=level_key == "new"))


def ladder(case: Case, level: str, level_key: str) -> int:
    """A lateness rung (or a supervisor's urge) to the groups that deal with it."""
    return to_groups(case, level, level_key, LADDER_SCOPES.get(level, ("grid",)))


def new_case(case: Case) -> int:
    """A new case in a grid: the grid's group hears of it."""
    return to_groups(case, "new_case", "new", ("grid",))
