"""The user's in-app notices (warnings, urges, supervision) with an unread count in the header, what
went to their phone, their notice settings, and the admin's channels and outbox."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from casework import access
from casework.extensions import db
from casework.models import Notification
from casework.services.errors import Invalid, NotFound
from casework.services.notices import admin as notice_admin
from casework.services.notices.channels import REGISTRY
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
    sent = notice_admin.messages(user_id=current_user.id, limit=50)
    return render_page("notices/index.html", notices=rows, sent=sent, labels=notice_admin.STATUS_LABELS,
                       status_of=notice_admin.status_of)


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


# ---- delivery to phones: the user's own settings, the admin's channels and outbox ----------------------

def _admin_only() -> None:
    if not access.may_administer(current_user):
        abort(404)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """My addresses for mail/SMS notices, quiet hours (a morning digest instead of pings) and language."""
    errors, status = {}, 200
    if request.method == "POST":
        try:
            notice_admin.save_settings(current_user, request.form)
        except Invalid as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
        else:
            db.session.commit()
            flash(_("通知设置已保存。"))
            return redirect(url_for("notices.settings"))
    pref, subs = notice_admin.settings_of(current_user)
    return render_page("notices/settings.html", channels=notice_admin.personal_channels(), pref=pref,
                           subs=subs, errors=errors, form=request.form if request.method == "POST" else None,
                           languages=notice_admin.LANGUAGES), status


@bp.route("/channels")
@login_required
def channels():
    """The admin's list of channels with their settings masked."""
    _admin_only()
    return render_page("notices/channels.html", channels=notice_admin.channels(), kinds=REGISTRY,
                           masked=notice_admin.masked_config, binding_of=notice_admin.binding_of,
                           health=notice_admin.health())


@bp.route("/channels/new", methods=["GET", "POST"])
@bp.route("/channels/<int:channel_id>", methods=["GET", "POST"])
@login_required
def channel_form(channel_id: int | None = None):
    """Create or edit a channel; a secret is never sent back to the browser once saved."""
    _admin_only()
    ch = _channel_or_404(channel_id) if channel_id else None
    kind = ch.kind if ch else request.values.get("kind", "")
    if kind not in REGISTRY:
        abort(404)
    errors, status = {}, 200
    if request.method == "POST":
        try:
            ch = notice_admin.save_channel(current_user, ch, request.form)
        except Invalid as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
        else:
            db.session.commit()
            flash(_("通道已保存。"))
            return redirect(url_for("notices.channels"))
    return render_page("notices/channel_form.html", ch=ch, kind=kind, spec=REGISTRY[kind], errors=errors,
                           form=request.form if request.method == "POST" else None,
                           bindings=notice_admin.bindings(), mask=notice_admin.mask,
                           subdistricts=notice_admin.subdistricts(),
                           binding=notice_admin.binding_of(ch) if ch else ""), status


@bp.route("/channels/<int:channel_id>/test", methods=["POST"])
@login_required
def test_channel(channel_id: int):
    """Queue a test message; the outbox page shows what the receiver answered."""
    _admin_only()
    ch = _channel_or_404(channel_id)
    try:
        notice_admin.send_test(current_user, ch, (request.form.get("address") or "").strip())
    except Invalid as exc:
        db.session.rollback()
        flash(str(next(iter(exc.errors.values()), exc.message)), "error")
        return redirect(url_for("notices.channel_form", channel_id=ch.id)), 303
    db.session.commit()
    flash(_("测试消息已排队，发送结果见下表。"))
    return redirect(url_for("notices.outbox", channel=ch.id))


@bp.route("/outbox")
@login_required
def outbox():
    """Every message with its delivery status; dead letters carry a retry button."""
    _admin_only()
    status = request.args.get("status", "")
    channel = request.args.get("channel", type=int)
    return render_page("notices/outbox.html", rows=notice_admin.messages(status, channel), status=status,
                           channel=channel, labels=notice_admin.STATUS_LABELS, status_of=notice_admin.status_of,
                           mask_address=notice_admin.mask_address, health=notice_admin.health())


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@login_required
def retry_message(message_id: int):
    """Send a dead letter again."""
    _admin_only()
    try:
        notice_admin.retry_dead(current_user, message_id)
    except NotFound:
        abort(404)
    except Invalid as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("notices.outbox", status="dead")), 303
    db.session.commit()
    flash(_("已重新排队发送。"))
    return redirect(url_for("notices.outbox", status="dead"))


def _channel_or_404(channel_id: int):
    try:
        return notice_admin.get_channel(channel_id)
    except NotFound:
        abort(404)
