"""Volunteers' pages, no login: register, the personal card page (by card code), and check-in by the
activity's QR.

The card code is the volunteer's only key. Every route that takes one (or a check-in token) shares a
per-address budget; every change also needs the mobile's last four digits and spends from a
smaller budget, so neither codes nor digits can be guessed.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from casework.extensions import db, limiter
from casework.models import Activity
from casework.services.errors import Invalid, NotFound, ServiceError
from casework.services.volunteers import activities, ledger, rating, redemption, registry
from casework.volunteers import labels
from casework.volunteers.qr import qr_svg

bp = Blueprint("volunteer_public", __name__, url_prefix="/v")

_looked_up = limiter.shared_limit(lambda: current_app.config.get("RATELIMIT_VOLUNTEER") or "60 per minute",
                                  scope="volunteer")
_confirmed = limiter.shared_limit(lambda: current_app.config.get("RATELIMIT_VOLUNTEER_CONFIRM") or "10 per minute",
                                  scope="volunteer_confirm", methods=["POST"])


@bp.after_request
def _private(response: Response) -> Response:
    """Card pages carry personal data and a secret code in the URL: no caches, no referrer, no index."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _int(raw) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _text(name: str, keep: int = 200) -> str:
    return (request.form.get(name) or "").strip()[:keep]


def _registration_page(values: dict, errors: dict, status: int = 200):
    return render_template("volunteers/register.html", values=values, errors=errors,
                           communities=registry.communities(), consent=registry.CONSENT_TEXT), status


@bp.route("/register", methods=["GET", "POST"])
@_confirmed
def register():
    """The phone-first registration form; a valid one opens the new volunteer's card page."""
    if request.method == "GET":
        return _registration_page({}, {})
    values = {"name": _text("name", 60), "mobile": _text("mobile", 20), "community_id": _int(request.form.get("community_id")),
              "skills": _text("skills", 400), "availability": _text("availability", 400),
              "consent": request.form.get("consent") in ("1", "on", "yes")}
    try:
        volunteer = registry.register(values)
    except ServiceError as exc:
        db.session.rollback()
        return _registration_page(values, exc.errors or {"mobile": exc.message}, exc.status)
    db.session.commit()
    return redirect(url_for("volunteer_public.card", code=volunteer.card_code, new=1), 303)


def _volunteer_or_404(code: str):
    try:
        return registry.find_by_card(code)
    except NotFound:
        abort(404)


def _card_page(volunteer, *, status: int = 200, errors=None, message: str | None = None, form: str | None = None):
    return render_template(
        "volunteers/card.html", v=volunteer, memberships=registry.memberships(volunteer),
        teams=registry.teams(volunteer.community_id), signups=activities.signups_of(volunteer),
        open_activities=activities.open_activities(), entries=ledger.entries(volunteer, 20),
        receipts=redemption.receipts(volunteer), stars=rating.of_volunteer(volunteer.id), VL=labels, errors=errors or {}, message=message,
        open_form=form, new=request.args.get("new") == "1"), status


@bp.route("/card/<code>")
@_looked_up
def card(code: str):
    """The volunteer's own page: hours, points, teams, activities signed up for, ledger and receipts."""
    volunteer = _volunteer_or_404(code)
    if code != volunteer.card_code:
        return redirect(url_for("volunteer_public.card", code=volunteer.card_code))
    return _card_page(volunteer)


@bp.route("/card/<code>/qr.svg")
@_looked_up
def card_qr(code: str):
    """The card's QR code (its page address), to print or show at the service station."""
    volunteer = _volunteer_or_404(code)
    return qr_svg(url_for("volunteer_public.card", code=volunteer.card_code, _external=True))


def _card_action(code: str, form: str, act, done: str):
    """Run a change from the card page after the last-four-digits check: committed, or nothing saved."""
    volunteer = _volunteer_or_404(code)
    try:
        registry.confirm_holder(volunteer, request.form.get("last4"))
        act(volunteer)
    except ServiceError as exc:
        db.session.rollback()
        return _card_page(volunteer, status=exc.status, errors=exc.errors, form=form,
                          message=None if exc.errors else str(exc.message))
    db.session.commit()
    flash(done, "volunteer")
    return redirect(url_for("volunteer_public.card", code=volunteer.card_code), 303)


def _activity_or_404(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    return activity


def _place_action(code: str, activity_id: int, form: str, act, done: str):
    """Sign up for / cancel a place on an activity from the card page; `done` names it as %(title)s."""
    activity = _activity_or_404(activity_id)
    return _card_action(code, f"{form}-{activity_id}", lambda v: act(v, activity), done % {"title": activity.title})


@bp.route("/card/<code>/join", methods=["POST"])
@_looked_up
@_confirmed
def join(code: str):
    """Ask to join a team: the leader approves."""
    team_id = _int(request.form.get("team_id"))
    return _card_action(code, "join", lambda v: registry.request_join(v, team_id),
                        _("入队申请已提交，等待队长审核。"))


@bp.route("/card/<code>/activities/<int:activity_id>/sign-up", methods=["POST"])
@_looked_up
@_confirmed
def sign_up(code: str, activity_id: int):
    """Take a place on an open activity (a full one refuses politely)."""
    return _place_action(code, activity_id, "signup", activities.sign_up, _("报名成功：%(title)s"))


@bp.route("/card/<code>/activities/<int:activity_id>/cancel", methods=["POST"])
@_looked_up
@_confirmed
def cancel(code: str, activity_id: int):
    """Give the place back before the sign-up deadline."""
    return _place_action(code, activity_id, "cancel", activities.cancel, _("已取消报名：%(title)s"))


def _checkin_page(activity, *, status: int = 200, errors=None, message: str | None = None, values=None,
                  ok: bool = False):
    return render_template("volunteers/checkin.html", activity=activity, errors=errors or {}, message=message,
                           values=values or {}, VL=labels, ok=ok), status


@bp.route("/checkin/<token>", methods=["GET", "POST"])
@_looked_up
@_confirmed
def checkin(token: str):
    """The page the activity's QR opens: card code + last four digits, then check in or out."""
    try:
        activity = activities.by_token(token)
    except NotFound:
        abort(404)
    if request.method == "GET":
        return _checkin_page(activity)
    values = {"card": _text("card", 32)}
    action = request.form.get("action")
    try:
        try:
            volunteer = registry.find_by_card(values["card"])
        except NotFound as exc:
            raise Invalid(exc.message, {"card": exc.message}) from None
        registry.confirm_holder(volunteer, request.form.get("last4"))
        if action == "out":
            row = activities.check_out(volunteer, activity)
        else:
            row = activities.check_in(volunteer, activity)
    except ServiceError as exc:
        db.session.rollback()
        return _checkin_page(activity, status=exc.status, errors=exc.errors, values=values,
                             message=None if exc.errors else str(exc.message))
    db.session.commit()
    if action == "out":
        message = _("签退成功，本次服务 %(h)s 小时，等待队长确认。", h=labels.hours_text(row.minutes))
    else:
        message = _("签到成功，欢迎参加活动！")
    return _checkin_page(activity, message=message, values=values, ok=True)


@bp.errorhandler(404)
def _not_found(exc):
    return render_template("public/error.html", status=404, title=_("找不到该页面"),
                           message=_("没有找到对应的志愿者卡或活动。请核对卡号，或联系社区工作人员。")), 404


@bp.errorhandler(429)
def _too_many(exc):
    return render_template("public/error.html", status=429, title=_("操作太频繁"),
                           message=_("您操作得太频繁了，请稍等几分钟再试。")), 429


@bp.route("/notice/<period>")
@_looked_up
def notice(period: str):
    """The public notice (公示) of a period's star ratings: masked names, stars, until when."""
    try:
        rows = rating.on_notice(period)
    except ServiceError:
        abort(404)
    return render_template("volunteers/notice.html", period=rating.parse_period(period).name, rows=rows,
                           mask=rating.mask_name)


@bp.route("/card/<code>/certificates/<number>")
@_looked_up
def certificate(code: str, number: str):
    """The volunteer's printable certificate (荣誉证书)."""
    volunteer = _volunteer_or_404(code)
    try:
        row = rating.certificate(number)
    except NotFound:
        abort(404)
    if row.volunteer_id != volunteer.id:
        abort(404)
    return render_template("volunteers/certificate.html", r=row, name=volunteer.name)


# /verify/<number> sits outside /v: it is printed on the certificate.
verify_bp = Blueprint("volunteer_verify", __name__)


@verify_bp.after_request
def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@verify_bp.route("/verify/<number>")
@_looked_up
def verify(number: str):
    """Anyone can check a certificate number: the masked name, the period and the stars, or 'not found'."""
    try:
        row = rating.certificate(number)
    except NotFound:
        return render_template("volunteers/verify.html", r=None, number=number[:24]), 404
    return render_template("volunteers/verify.html", r=row, number=row.certificate_number,
                           name=rating.mask_name(row.volunteer.name))
