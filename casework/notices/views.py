"""The user's in-app notices (warnings, urges, supervision) with an unread count in the header."""
from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from casework.extensions import db
from casework.models import Notification
from casework.timekeeping import now
from casework.ui import render_page

bp = Blueprint("notices", __name__, url_prefix="/notices")


@bp.route("/")
@login_required
def index():
    """The latest 100 notices, unread first."""
    rows = db.session.scalars(
        select(Notification).where(Notification.user_id == current_user.id)
        .options(selectinload(Notification.case))
        .order_by(Notification.read_at.is_not(None), Notification.id.desc()).limit(100)
    ).all()
    return render_page("notices/index.html", notices=rows)


@bp.route("/<int:notice_id>/open", methods=["POST"])
@login_required
def open_notice(notice_id: int):
    """Mark one notice read and open its case."""
    notice = db.session.get(Notification, notice_id)
    if notice is None or notice.user_id != current_user.id:
        return redirect(url_for("notices.index"))
    notice.read_at = notice.read_at or now()
    db.session.commit()
    if notice.case_id:
        return redirect(url_for("cases.detail", case_id=notice.case_id))
    return redirect(url_for("notices.index"))


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    """Mark every notice read."""
    db.session.execute(update(Notification).where(Notification.user_id == current_user.id,
                                                  Notification.read_at.is_(None)).values(read_at=now()))
    db.session.commit()
    return redirect(url_for("notices.index"))
