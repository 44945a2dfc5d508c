"""The assisting block of a case page (`case-<id>-assists`): every action answers with the block."""
from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from casework.extensions import db, htmx
from casework.services import assists
from casework.services.errors import Invalid, ServiceError
from casework.ui import form_data, get_case_or_404, refused, render_page

bp = Blueprint("assists", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def _require_login():
    """Every assisting action needs a logged-in user."""


def render_panel(case, *, status: int = 200, errors=None, values=None, form_part: int | None = None):
    """The assisting block fragment; a plain (non-htmx) post goes back to the case page instead (or,
    refused input, to an error page naming what to fix)."""
    if not htmx and status == 200:
        return redirect(url_for("cases.detail", case_id=case.id), 303)
    if not htmx:
        return make_response(render_page("error.html", status=status, title=_("操作未完成"),
                                         message=" ".join(str(m) for m in (errors or {}).values())), status)
    response = make_response(render_template(
        "assists/_panel.html", case=case, assist=assists.panel(current_user, case),
        assist_errors=errors or {}, assist_values=values or {}, form_part=form_part), status)
    if status == 200:
        response.headers["HX-Trigger"] = "case-changed"
    return response


@bp.route("/<int:case_id>/assists")
def panel(case_id: int):
    """The assisting block alone."""
    case = get_case_or_404(case_id, current_user)
    return make_response(render_template("assists/_panel.html", case=case, assist=assists.panel(current_user, case),
                                         assist_errors={}, assist_values={}, form_part=None))


def _act(case, action, *, form_part: int | None = None):
    """Run one service call; commit, or answer with the block and its errors (nothing written)."""
    data = form_data()
    try:
        action(data)
    except Invalid as exc:
        db.session.rollback()
        return render_panel(case, status=422, errors=exc.errors, values=data, form_part=form_part)
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    return render_panel(case)


@bp.route("/<int:case_id>/assists", methods=["POST"])
def request_assist(case_id: int):
    """The lead, the grid staff or a supervisor asks an organisation to assist; it is told at once."""
    case = get_case_or_404(case_id, current_user)
    return _act(case, lambda d: assists.request_assist(current_user, case, d.get("organisation"), d.get("note", "")))


@bp.route("/<int:case_id>/assists/<int:part_id>/notes", methods=["POST"])
def add_note(case_id: int, part_id: int):
    """The assisting organisation writes down its progress."""
    case = get_case_or_404(case_id, current_user)
    try:
        part = assists.get_part(case, part_id)
    except ServiceError as exc:
        return refused(exc)
    return _act(case, lambda d: assists.add_note(current_user, case, part, d.get("note", "")), form_part=part.id)


@bp.route("/<int:case_id>/assists/<int:part_id>/done", methods=["POST"])
def report_done(case_id: int, part_id: int):
    """The assisting organisation reports its part done; the lead is told."""
    case = get_case_or_404(case_id, current_user)
    try:
        part = assists.get_part(case, part_id)
    except ServiceError as exc:
        return refused(exc)
    return _act(case, lambda d: assists.report_part_done(current_user, case, part, d.get("done_note", ""),
                                                         request.form.get("version", type=int)),
                form_part=part.id)
