"""Case list, case detail with timeline, and the workflow actions (htmx fragments)."""
from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from casework import access
from casework.extensions import db, htmx
from casework.models import Category
from casework.services import audit, hotspots, queries, transitions
from casework.services.errors import Invalid, Refused, ServiceError
from casework.ui import (case_and_event_or_404, case_panel_context, event_form_context, form_data, get_case_or_404,
                         jurisdiction, refused, render_page)
from casework.events import EVENT_INPUTS
from casework.workflow import EVENTS

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def _require_login():
    """Every case page needs a logged-in user."""


@bp.route("/")
def index():
    """The user's cases, filtered by the URL's arguments; htmx gets just the rows."""
    f = _filters()
    cases, total = queries.list_cases(jurisdiction(), f)
    if f.phone:
        db.session.commit()  # the audit row of the phone search
    template = "cases/_rows.html" if htmx and htmx.target == "case-rows" else "cases/index.html"
    return render_page(template, cases=cases, total=total, f=f,
                       categories=db.session.scalars(db.select(Category).order_by(Category.id)).all())


def _filters() -> queries.CaseFilters:
    """The URL's filters; a search by a resident's full phone number is recorded in the audit here (in
    the request's transaction, committed by the view)."""
    f = queries.allow_phone_search(current_user, queries.CaseFilters.from_args(request.args))
    if f.phone:
        audit.record("phone.search", actor=current_user, obj="cases", address=request.remote_addr or "")
    return f


def render_case(case, *, status: int = 200, form_event: str | None = None, errors=None, values=None):
    """The case panel fragment (or the full page on a plain request)."""
    template = "cases/_case.html" if htmx else "cases/detail.html"
    return make_response(render_page(
        template, case=case, events=queries.timeline(case),
        actions=access.events_for(current_user, case), form_event=form_event,
        errors=errors or {}, values=values or {}, handlers=queries.handler_choices(case),
        **event_form_context(jurisdiction(), case, form_event),
        **case_panel_context(current_user, case),
        linked=[c for c in hotspots.linked_cases(case) if access.can_view(jurisdiction(), c)],
    ), status)


@bp.route("/<int:case_id>")
def detail(case_id: int):
    """The case with its timeline and the buttons this user may press."""
    case = get_case_or_404(case_id, jurisdiction())
    return render_case(case)


@bp.route("/<int:case_id>/events/<event>/form")
def event_form(case_id: int, event: str):
    """The inline form for an event that needs a note, a reason or a target."""
    case = get_case_or_404(case_id, jurisdiction())
    if event not in EVENTS:
        abort(404)
    if event not in access.events_for(current_user, case):
        # A stale page offered the button: say so now, not after the user has filled the form in.
        return refused(Refused(_("当前状态下您不能执行此操作，请刷新页面。")))
    if not htmx:  # without JavaScript the link opens the case page with the form in place
        return render_case(case, form_event=event)
    return render_template("cases/_event_form.html", case=case, event=event,
                           needs=EVENT_INPUTS[event], errors={}, values={},
                           handlers=queries.handler_choices(case),
                           **event_form_context(jurisdiction(), case, event))


@bp.route("/<int:case_id>/events/<event>", methods=["POST"])
def fire_event(case_id: int, event: str):
    """Fire a workflow event; the panel re-renders, or the form comes back with its errors."""
    case = case_and_event_or_404(case_id, event)
    data = form_data()
    try:
        transitions.fire(current_user, case, event, data, version=request.form.get("version", type=int))
    except Invalid as exc:
        db.session.rollback()
        if not htmx:
            return render_case(case, status=exc.status, form_event=event, errors=exc.errors, values=data)
        response = make_response(render_template(
            "cases/_event_form.html", case=case, event=event, needs=EVENT_INPUTS[event],
            errors=exc.errors, values=data, handlers=queries.handler_choices(case),
            **event_form_context(jurisdiction(), case, event)), exc.status)
        response.headers["HX-Retarget"] = f"#case-{case.id}-action"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    except ServiceError as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    if not htmx:  # a plain form post: back to the case page, so a reload does not post again
        return redirect(url_for("cases.detail", case_id=case.id), 303)
    response = render_case(case)
    response.headers["HX-Trigger"] = "case-changed"
    return response

