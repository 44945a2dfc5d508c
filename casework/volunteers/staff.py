"""Staff screens for volunteers: the activity board, a new activity, an activity's roster and QR,
joining requests, and the service station (a volunteer's card: ledger, corrections, redemption).

Every view asks `casework.access` (may_open_volunteers / may_manage_team / may_manage_activity /
may_serve_volunteer); something outside the user's scope answers 404 like something missing.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from casework import access
from casework.extensions import db
from casework.models import Activity, CaseHours, LedgerEntry, TeamMembership, User
from casework.services.errors import NotFound, ServiceError
from casework.ui import guard, jurisdiction, render_page
from casework.services.volunteers import activities, casehours, flow, ledger, partners, rating, redemption, registry
from casework.volunteers import labels
from casework.volunteers.qr import qr_svg

bp = Blueprint("volunteers", __name__, url_prefix="/volunteers")


guard(bp, access.may_open_volunteers, status=403)


def _int(raw) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.lstrip("-").isdigit() and len(text) < 10 else None


def _activity_or_404(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None or not access.may_manage_activity(jurisdiction(), activity):
        abort(404)
    return activity


def _board(status: int = 200, message: str | None = None, errors: dict | None = None):
    teams = registry.teams_managed_by(jurisdiction())
    team_ids = [t.id for t in teams]
    return render_page("volunteers/board.html", columns=activities.board(activities.of_teams(team_ids)),
                           pending=registry.pending_for(team_ids), teams=teams, VL=labels,
                           case_hours=casehours.pending_for(team_ids), message=message, errors=errors or {},
                           events=flow.enabled_events), status


@bp.route("/")
def index():
    """The activity board (one column per state), joining requests and case hours waiting for the leader."""
    return _board()


def _new_page(values: dict, errors: dict, status: int = 200):
    return render_page("volunteers/new_activity.html", values=values, errors=errors,
                           teams=registry.teams_managed_by(jurisdiction()), projects=activities.projects()), status


@bp.route("/activities/new", methods=["GET", "POST"])
def new_activity():
    """The new-activity form; a valid one lands on the board in 计划中."""
    if request.method == "GET":
        return _new_page({}, {})
    values = {k: (request.form.get(k) or "").strip()[:200] for k in (
        "title", "team_id", "project_id", "place", "starts_at", "ends_at", "signup_deadline", "capacity",
        "points_per_hour")}
    try:
        activity = activities.create_activity(current_user, values, registry.teams_managed_by(jurisdiction()))
    except ServiceError as exc:
        db.session.rollback()
        return _new_page(values, exc.errors, exc.status)
    db.session.commit()
    return redirect(url_for("volunteers.activity", activity_id=activity.id), 303)


def _activity_page(activity: Activity, status: int = 200, message: str | None = None, errors: dict | None = None,
                   values: dict | None = None):
    return render_page("volunteers/activity.html", a=activity, roster=activities.roster(activity), VL=labels,
                       events=flow.enabled_events(activity), message=message,
                       plan_choices=partners.plan_choices(activity), errors=errors or {},
                       values=values or {}), status


@bp.route("/activities/<int:activity_id>")
def activity(activity_id: int):
    """One activity: its state, the buttons the workflow allows, the roster and the check-in QR."""
    return _activity_page(_activity_or_404(activity_id))


@bp.route("/activities/<int:activity_id>/checkin-qr.svg")
def checkin_qr(activity_id: int):
    """The QR shown at the place: it opens the check-in page of this activity."""
    a = _activity_or_404(activity_id)
    return qr_svg(url_for("volunteer_public.checkin", token=a.checkin_token, _external=True))


@bp.route("/activities/<int:activity_id>/events/<event>", methods=["POST"])
def move(activity_id: int, event: str):
    """Move the activity (open sign-up, start, finish, confirm hours)."""
    a = _activity_or_404(activity_id)
    try:
        activities.move(current_user, a, event)
    except ServiceError as exc:
        db.session.rollback()
        return _activity_page(a, exc.status, str(exc.message))
    db.session.commit()
    flash(_("已完成：%(what)s", what=labels.ACTIVITY_EVENT.get(event, event)), "volunteers")
    return redirect(url_for("volunteers.activity", activity_id=a.id), 303)


@bp.route("/memberships/<int:membership_id>", methods=["POST"])
def decide(membership_id: int):
    """The leader approves or refuses a request to join."""
    membership = db.session.get(TeamMembership, membership_id)
    if membership is None or not access.may_manage_team(jurisdiction(), membership.team):
        abort(404)
    try:
        registry.decide_membership(current_user, membership, request.form.get("decision") == "approve")
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "volunteers-error")
        return redirect(url_for("volunteers.index"), 303)
    db.session.commit()
    flash(_("已处理入队申请：%(name)s", name=membership.volunteer.name), "volunteers")
    return redirect(url_for("volunteers.index"), 303)


@bp.route("/case-hours/<int:hours_id>", methods=["POST"])
def decide_case_hours(hours_id: int):
    """The leader confirms hours from a case (they reach the ledgers) or refuses them with a reason."""
    row = db.session.get(CaseHours, hours_id)
    if row is None or not access.may_manage_team(jurisdiction(), row.team):
        abort(404)
    try:
        if request.form.get("decision") == "confirm":
            casehours.confirm(current_user, row)
        else:
            casehours.refuse(current_user, row, request.form.get("reason") or "")
    except ServiceError as exc:
        db.session.rollback()
        errors = {f"case-hours-{hours_id}": exc.errors.get("reason")} if exc.errors else {}
        return _board(exc.status, None if errors else str(exc.message), errors)
    db.session.commit()
    flash(_("已确认 %(name)s 的办件时长。", name=row.volunteer.name) if row.status == "confirmed"
          else _("已不予确认 %(name)s 的办件时长。", name=row.volunteer.name), "volunteers")
    return redirect(url_for("volunteers.index"), 303)


# The service station: scan a card, see the ledger, correct, redeem ---------------------------------

def _volunteer_or_404(code: str):
    try:
        volunteer = registry.find_by_card(code)
    except NotFound:
        abort(404)
    if not access.may_serve_volunteer(jurisdiction(), volunteer):
        abort(404)
    return volunteer


@bp.route("/station")
def station():
    """Type or scan a card code to open the volunteer at the service station."""
    code = registry.normalise_code(request.args.get("code"))
    if code:
        return redirect(url_for("volunteers.person", code=code))
    return render_page("volunteers/station.html")


def _person_page(volunteer, status: int = 200, errors=None, message: str | None = None, values=None,
                 form: str | None = None):
    return render_page("volunteers/person.html", v=volunteer, entries=ledger.entries(volunteer, 50),
                           account=db.session.get(User, volunteer.user_id) if volunteer.user_id else None,
                           gifts=redemption.catalogue(volunteer.community_id),
                           receipts=redemption.receipts(volunteer), VL=labels, errors=errors or {},
                           message=message, values=values or {}, open_form=form), status


@bp.route("/people/<code>")
def person(code: str):
    """A volunteer at the station: balances, ledger with corrections, gift redemption."""
    return _person_page(_volunteer_or_404(code))


def _station_action(code: str, form: str, values: dict, act, done: str):
    volunteer = _volunteer_or_404(code)
    try:
        act(volunteer)
    except ServiceError as exc:
        db.session.rollback()
        return _person_page(volunteer, exc.status, exc.errors, None if exc.errors else str(exc.message),
                            values, form)
    db.session.commit()
    flash(done, "volunteers")
    return redirect(url_for("volunteers.person", code=volunteer.card_code), 303)


@bp.route("/people/<code>/redeem", methods=["POST"])
def redeem(code: str):
    """Hand out gifts: points and stock drop together, or nothing changes."""
    values = {"gift_id": _int(request.form.get("gift_id")), "quantity": _int(request.form.get("quantity"))}
    return _station_action(code, "redeem", values, lambda v: redemption.redeem(
        current_user, v, values["gift_id"], values["quantity"]), _("兑换成功。"))


@bp.route("/people/<code>/adjust", methods=["POST"])
def adjust(code: str):
    """A manual adjustment with a reason (hours in minutes, or points)."""
    values = {"ledger": request.form.get("ledger") or "", "amount": _int(request.form.get("amount")),
              "reason": (request.form.get("reason") or "").strip()[:300]}
    return _station_action(code, "adjust", values, lambda v: ledger.adjust(
        current_user, v, values["ledger"], values["amount"], values["reason"]), _("已记录调整。"))


@bp.route("/people/<code>/entries/<int:entry_id>/reverse", methods=["POST"])
def reverse(code: str, entry_id: int):
    """Correct a wrong entry by a reversing one (never an edit)."""
    entry = db.session.get(LedgerEntry, entry_id)
    values = {"reason": (request.form.get("reason") or "").strip()[:300]}

    def act(v):
        if entry is None or entry.volunteer_id != v.id:
            raise NotFound(_("找不到该笔账目。"))
        ledger.reverse(current_user, entry.id, values["reason"])
    return _station_action(code, f"reverse-{entry_id}", values, act, _("已冲正。"))


# Stars: review the drafts, publish them for the notice, confirm them ------------------------------

@bp.route("/ratings")
def ratings():
    """The period's ratings in the supervisor's scope, with publish and confirm."""
    if not access.may_review_ratings(jurisdiction()):
        abort(403)
    period = (request.args.get("period") or "").strip()[:8]
    try:
        rows = rating.ratings(period, access.rating_scope(jurisdiction())) if period else []
    except ServiceError as exc:
        return render_page("volunteers/ratings.html", period=period, rows=[], message=str(exc.message)), 422
    return render_page("volunteers/ratings.html", period=period, rows=rows, message=None)


@bp.route("/ratings/<period>/<step>", methods=["POST"])
def rating_step(period: str, step: str):
    """Publish the reviewed drafts for the public notice, or confirm them once the notice is over."""
    if not access.may_review_ratings(jurisdiction()) or step not in ("publish", "confirm"):
        abort(404)
    act = rating.publish if step == "publish" else rating.confirm
    try:
        n = act(current_user, period, access.rating_scope(jurisdiction()))
    except ServiceError as exc:
        db.session.rollback()
        rows = rating.ratings(period, access.rating_scope(jurisdiction())) if rating_period_ok(period) else []
        return render_page("volunteers/ratings.html", period=period, rows=rows,
                               message=str(exc.message)), exc.status
    db.session.commit()
    flash(_("已发布公示 %(n)d 人。", n=n) if step == "publish" else _("已确认 %(n)d 人，证书已编号。", n=n),
          "volunteers")
    return redirect(url_for("volunteers.ratings", period=period), 303)


def rating_period_ok(period: str) -> bool:
    try:
        rating.parse_period(period)
    except ServiceError:
        return False
    return True


@bp.route("/activities/<int:activity_id>/roster", methods=["POST"])
def roster(activity_id: int):
    """The leader ticks who came; each gets the activity's window, waiting for the confirmation."""
    a = _activity_or_404(activity_id)
    ids = [int(x) for x in request.form.getlist("volunteers") if x.isdigit() and len(x) < 10]
    try:
        n = activities.record_roster(current_user, a, ids)
    except ServiceError as exc:
        db.session.rollback()
        return _activity_page(a, exc.status, str(exc.message))
    db.session.commit()
    flash(_("已点名 %(n)d 人。", n=n), "volunteers")
    return redirect(url_for("volunteers.activity", activity_id=a.id), 303)


# The people and partners screens register on the same blueprint.
from casework.volunteers import staff_partners as _partners_views  # noqa: E402,F401
from casework.volunteers import staff_people as _people_views  # noqa: E402,F401
