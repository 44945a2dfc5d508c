"""Who gets what. Groups: the robots bound to a case's grid / community / organisation. People: the
personal channels (mail, SMS) each user subscribed to, in their language, held back in their quiet
hours unless the case is an emergency. Everything is written to the outbox in the caller's
transaction; nothing is sent from here."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, or_, select

from casework.extensions import db
from casework.models import Case, Community, NoticeChannel, NoticePreference, NoticeSubscription
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
# A NULL parameter matches nothing, so one statement serves any mix of scopes.
_GROUP_CHANNELS = select(NoticeChannel).where(
    NoticeChannel.active.is_(True), NoticeChannel.kind.not_in(PERSONAL_KINDS),
    or_(NoticeChannel.grid_id == bindparam("grid"), NoticeChannel.community_id == bindparam("community"),
        NoticeChannel.organisation_id == bindparam("organisation")),
).order_by(NoticeChannel.id)

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


def to_people(user_ids, case: Case, kind: str, level_key: str, **values) -> int:
    """Copy an in-app notice onto each user's personal channels; returns how many were queued."""
    ids = sorted(set(user_ids))
    if not ids:
        return 0
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


def group_channels(case: Case, scopes: tuple[str, ...]) -> list[NoticeChannel]:
    """The active group channels bound to the case's grid / community / organisation."""
    params = {"grid": case.grid_id if "grid" in scopes else None,
              "community": case.community_id if "community" in scopes else None,
              "organisation": case.assigned_org_id if "organisation" in scopes else None}
    if not any(params.values()):
        return []
    return list(db.session.scalars(_GROUP_CHANNELS, params))


def to_groups(case: Case, kind: str, level_key: str, scopes: tuple[str, ...], **values) -> int:
    """Queue one message per bound group robot; returns how many were queued."""
    channels = group_channels(case, scopes)
    if not channels:
        return 0
    facts = facts_of(case)
    payload = render(kind, facts, "zh_Hans_CN", **values)
    return sum(1 for ch in channels if enqueue(
        ch, payload, key=f"{kind}:{case.id}:{level_key}:c{ch.id}", kind=kind, case_id=case.id,
        emergency=facts.emergency, check_existing=level_key == "new"))


def ladder(case: Case, level: str, level_key: str) -> int:
    """A lateness rung (or a supervisor's urge) to the groups that deal with it."""
    return to_groups(case, level, level_key, LADDER_SCOPES.get(level, ("grid",)))


def new_case(case: Case) -> int:
    """A new case in a grid: the grid's group hears of it."""
    return to_groups(case, "new_case", "new", ("grid",))
