"""The clock panel on a case: due times, extension / parking requests and decisions, manual urge."""
from __future__ import annotations

from flask import Blueprint, make_response, render_template, request
from flask_login import current_user, login_required

from casework.extensions import db
from casework.services import escalation, timeliness
from casework.services.errors import Invalid, ServiceError
from casework.ui import due_view, form_data, get_case_or_404, jurisdiction, refused

bp = Blueprint("timeliness", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def _require_login():
    """Every clock action needs a logged-in user."""


def render_panel(case, *, status: int = 200, errors=None, values=None, message=None):
    """The clock panel fragment (`case-<id>-clock`)."""
    return make_response(render_template(
        "timeliness/_panel.html", case=case, pending=timeliness.pending(case), due=due_view(case),
        errors=errors or {}, values=values or {}, message=message), status)


def _then_panel(case, act):
    """Run `act()`: committed and the panel shown again, or rolled back and refused (nothing half-written)."""
    try:
        act()
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    return render_panel(case)


@bp.route("/<int:case_id>/clock")
def panel(case_id: int):
    """The clock panel alone (refreshed after actions)."""
    return render_panel(get_case_or_404(case_id, jurisdiction()))


@bp.route("/<int:case_id>/extensions", methods=["POST"])
def request_extension(case_id: int):
    """The handler asks for an extension or parking; the panel shows the pending request."""
    case = get_case_or_404(case_id, jurisdiction())
    data = form_data()
    try:
        timeliness.request_extension(current_user, case, kind=data.get("kind", "extend"),
                                     hours=data.get("hours"), reason=data.get("reason", ""),
                                     version=request.form.get("version", type=int))
    except Invalid as exc:
        db.session.rollback()
        return render_panel(case, status=422, errors=exc.errors, values=data)
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    return render_panel(case)


@bp.route("/<int:case_id>/extensions/<int:ext_id>", methods=["POST"])
def decide_extension(case_id: int, ext_id: int):
    """A supervisor approves or refuses; the due time moves (or the clock pauses) on approval."""
    case = get_case_or_404(case_id, jurisdiction())
    return _then_panel(case, lambda: timeliness.decide_extension(
        current_user, case, ext_id, approve=request.form.get("decision") == "approve",
        note=request.form.get("note", "")))


@bp.route("/<int:case_id>/resume", methods=["POST"])
def resume(case_id: int):
    """End parking: the clock runs again with its due time moved by the paused time."""
    case = get_case_or_404(case_id, jurisdiction())
    return _then_panel(case, lambda: timeliness.resume(current_user, case))


@bp.route("/<int:case_id>/urge", methods=["POST"])
def urge(case_id: int):
    """A supervisor urges (催办) the unit holding the case; the timeline records it."""
    case = get_case_or_404(case_id, jurisdiction())
    if not escalation.urge(current_user, [case], request.form.get("note", "")):
        db.session.rollback()
        from casework.services.errors import Refused
        from flask_babel import gettext as _
        return refused(Refused(_("您无权催办该案件。")))
    db.session.commit()
    return render_panel(case, message="urged")
