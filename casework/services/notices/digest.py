"""Digests. (1) The morning digest at 08:30 on working days (the working calendar decides: no digest on
a holiday, one on a 调休 Saturday) to each grid's group: new, due today, overdue, returned.
(2) What was held back in a user's quiet hours goes out as one message when they end."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from flask_babel import force_locale, gettext as _
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Case, Grid, NoticeChannel, NoticePreference, OutboxMessage
from casework.services import clock
from casework.services.notices.content import render_plain
from casework.services.notices.outbox import enqueue

DIGEST_AT = dt.time(8, 30)
# A worker that was down all morning does not send "this morning's" digest in the afternoon.
DIGEST_UNTIL = dt.time(12, 0)


def grid_counts(grid_id: int, at: dt.datetime) -> dict[str, int]:
    """New (not yet signed for), due today, overdue and returned open cases of one grid."""
    end_of_day = dt.datetime.combine(at.date(), dt.time(23, 59, 59))
    open_ = (Case.grid_id == grid_id, Case.status != "closed")

    def count(*where) -> int:
        return db.session.scalar(select(func.count()).select_from(Case).where(*open_, *where)) or 0
    return {
        "new": count(Case.status == "reported"),
        "due_today": count(Case.parked_at.is_(None), Case.stage_due_at >= at, Case.stage_due_at <= end_of_day),
        "overdue": count(clock.late_clause(at)),  # the board's and the dashboard's rule (docs/metrics.md)
        "returned": count(Case.return_count > 0, Case.status.in_(("triage", "building_leader"))),
    }


def morning(at: dt.datetime) -> int:
    """Queue today's digest for every grid-bound group channel, once per working day."""
    if not (DIGEST_AT <= at.time() < DIGEST_UNTIL) or not clock.calendar().is_workday(at.date()):
        return 0
    channels = db.session.scalars(select(NoticeChannel).where(
        NoticeChannel.active.is_(True), NoticeChannel.grid_id.is_not(None))).all()
    queued = 0
    for ch in channels:
        key = f"grid-digest:{ch.id}:{at.date().isoformat()}"
        if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            continue
        grid = db.session.get(Grid, ch.grid_id)
        n = grid_counts(ch.grid_id, at)
        title = _("【早报】%(grid)s %(date)s", grid=grid.name, date=at.strftime("%m-%d"))
        text = "\n".join([title, _("新上报 %(n)d 件", n=n["new"]), _("今日到期 %(n)d 件", n=n["due_today"]),
                          _("已超时 %(n)d 件", n=n["overdue"]), _("被退回 %(n)d 件", n=n["returned"])])
        if enqueue(ch, render_plain(title, text), key=key, kind="digest"):
            queued += 1
    return queued


def release_held(at: dt.datetime) -> int:
    """Quiet hours over: the messages held for a user on one channel go out as one digest."""
    held = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == "held", OutboxMessage.next_attempt_at <= at).order_by(OutboxMessage.id)).all()
    groups: dict[tuple, list[OutboxMessage]] = defaultdict(list)
    for m in held:
        groups[(m.user_id, m.channel_id, m.destination)].append(m)
    langs = {p.user_id: p.language for p in db.session.scalars(select(NoticePreference).where(
        NoticePreference.user_id.in_({m.user_id for m in held if m.user_id})))} if held else {}
    for (user_id, channel_id, destination), rows in groups.items():
        with force_locale(langs.get(user_id, "zh_Hans_CN")):
            title = _("夜间通知汇总（%(n)d 条）", n=len(rows))
            lines = [title] + [f"· {r.payload.get('title', '')} {r.payload.get('link', '')}".rstrip() for r in rows]
        enqueue(channel_id, render_plain(title, "\n".join(lines)), destination=destination, user_id=user_id,
                key=f"quiet-digest:u{user_id}:c{channel_id}:{rows[0].id}-{rows[-1].id}", kind="quiet_digest")
        for r in rows:
            r.status = "digested"
    return len(groups)


def tick(at: dt.datetime) -> int:
    """Whatever digests are due at `at`; the caller commits."""
    return morning(at) + release_held(at)
