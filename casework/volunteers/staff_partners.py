"""Staff screens for community partners: agreements, annual plans, plan vs held, and linking an
activity to a partner's plan item. Routes on the volunteers blueprint; access via casework.access."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from casework import access
from casework.extensions import db
from sqlalchemy import select

from casework.models import Community, PartnerAgreement, VolunteerProject
from casework.models.volunteers import AGREEMENT_STATES
from casework.services.errors import ServiceError
from casework.services.volunteers import dashboard, partners, points
from casework.timekeeping import now
from casework.ui import jurisdiction, render_page
from casework.volunteers import labels
from casework.volunteers.staff import _activity_or_404, _activity_page, _int, bp


# Community partners: agreements, annual plans, plan vs held ---------------------------------------

def _year() -> int:
    year = _int(request.args.get("year"))
    return year if year and 2000 <= year <= 2100 else now().year


def _partners_page(status: int = 200, errors: dict | None = None, values: dict | None = None,
                   form: str | None = None, year: int | None = None):
    scope = access.partner_scope(jurisdiction())
    year = year or _year()
    rows, total = partners.plan_vs_held(scope, year)
    return render_page("volunteers/partners.html", year=year, rows=rows, total=total,
                           agreements=partners.agreements(scope), plans=partners.plans(scope, year),
                           choices=partners.partner_choices(), communities=partners.communities(scope),
                           errors=errors or {}, values=values or {}, open_form=form,
                           AGREEMENT_STATES=AGREEMENT_STATES, VL=labels), status


def _partners_only():
    if not access.may_manage_partners(jurisdiction()):
        abort(404)


@bp.route("/partners")
def partners_index():
    """Partners' agreements, the year's plans and plan vs held, per partner and community."""
    _partners_only()
    return _partners_page()


_AGREEMENT_FIELDS = ("organisation_id", "community_id", "signed_on", "starts_on", "ends_on", "content", "contact",
                     "status")
_PLAN_FIELDS = ("organisation_id", "community_id", "year", "month", "title", "carriers")


def _partner_action(form: str, fields: tuple[str, ...], act, done: str):
    _partners_only()
    values = {k: (request.form.get(k) or "").strip()[:2000] for k in fields}
    try:
        act(values, access.partner_scope(jurisdiction()))
    except ServiceError as exc:
        db.session.rollback()
        return _partners_page(exc.status, exc.errors, values, form)
    db.session.commit()
    flash(done, "volunteers")
    return redirect(url_for("volunteers.partners_index", year=_int(values.get("year")) or None), 303)


@bp.route("/partners/agreements", methods=["POST"])
def new_agreement():
    """Record a partner's signed agreement with a community."""
    return _partner_action("agreement", _AGREEMENT_FIELDS,
                           lambda v, scope: partners.create_agreement(current_user, v, scope), _("已记录协议。"))


@bp.route("/partners/agreements/<int:agreement_id>/status", methods=["POST"])
def agreement_status(agreement_id: int):
    """Change an agreement's status (in force, ended, terminated)."""
    agreement = db.session.get(PartnerAgreement, agreement_id)
    if agreement is None or not access.may_manage_partners(jurisdiction(), agreement.community_id):
        abort(404)
    return _partner_action(f"agreement-{agreement_id}", ("status",),
                           lambda v, scope: partners.set_status(current_user, agreement, v["status"]),
                           _("已更新协议状态。"))


@bp.route("/partners/plans", methods=["POST"])
def new_plan():
    """Add an item of a partner's annual plan."""
    return _partner_action("plan", _PLAN_FIELDS, lambda v, scope: partners.add_plan(current_user, v, scope),
                           _("已添加年度计划。"))


@bp.route("/activities/<int:activity_id>/partner", methods=["POST"])
def activity_partner(activity_id: int):
    """Link the activity to a partner's plan item and record the residents served."""
    a = _activity_or_404(activity_id)
    values = {k: (request.form.get(k) or "").strip()[:20] for k in ("plan_id", "residents_served")}
    try:
        partners.link_activity(current_user, a, values)
    except ServiceError as exc:
        db.session.rollback()
        return _activity_page(a, exc.status, None, exc.errors, values)
    db.session.commit()
    flash(_("已保存合伙人计划和服务人次。"), "volunteers")
    return redirect(url_for("volunteers.activity", activity_id=a.id), 303)


# The volunteer dashboard for supervisors ---------------------------------------------------------

def _dashboard_figures():
    scope = access.partner_scope(jurisdiction())
    start, end = dashboard.parse_period(request.args.get("from"), request.args.get("to"), now().date())
    name = db.session.get(Community, scope).name if scope is not None else _("全街道")
    return dashboard.figures(scope, start, end), name


@bp.route("/dashboard")
def dashboard_page():
    """Teams, volunteers, hours, residents served, activities per project, stars and plan vs held."""
    _partners_only()
    values = {k: (request.args.get(k) or "").strip()[:10] for k in ("from", "to")}
    try:
        f, name = _dashboard_figures()
    except ServiceError as exc:
        return render_page("volunteers/dashboard.html", f=None, errors=exc.errors, values=values), exc.status
    return render_page("volunteers/dashboard.html", f=f, scope_name=name, errors={}, values=values)


@bp.route("/dashboard.csv")
def dashboard_csv():
    """The same figures as a CSV file."""
    _partners_only()
    try:
        f, name = _dashboard_figures()
    except ServiceError as exc:
        return str(exc.message), exc.status, {"Content-Type": "text/plain; charset=utf-8"}
    return dashboard.csv_bytes(f, name), 200, {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f"attachment; filename=volunteers-{f.start.isoformat()}.csv"}


# Points rules: project bonuses --------------------------------------------------------------------

def _may_change_project(project) -> bool:
    if project.community_id is None:  # a subdistrict-wide project: the subdistrict's supervisors
        return access.may_manage_partners(jurisdiction()) and access.partner_scope(jurisdiction()) is None
    return access.may_manage_partners(jurisdiction(), project.community_id)


def _projects_page(status: int = 200, errors: dict | None = None, values: dict | None = None, open_id=None):
    projects = [p for p in db.session.scalars(select(VolunteerProject).order_by(VolunteerProject.id))
                if _may_change_project(p)]
    return render_page("volunteers/projects.html", projects=projects, errors=errors or {},
                           values=values or {}, open_id=open_id,
                           expire_months=current_app.config.get("VOLUNTEER_POINTS_EXPIRE_MONTHS", 0),
                           case_points=current_app.config.get("VOLUNTEER_CASE_POINTS_PER_HOUR", 10)), status


@bp.route("/projects")
def projects():
    """Projects and brands with their bonus points, and the points rules in force."""
    _partners_only()
    return _projects_page()


@bp.route("/projects/<int:project_id>/bonus", methods=["POST"])
def project_bonus(project_id: int):
    """Set a project's bonus points per confirmed participation."""
    _partners_only()
    project = db.session.get(VolunteerProject, project_id)
    if project is None or not _may_change_project(project):
        abort(404)
    raw = (request.form.get("bonus_points") or "").strip()[:10]
    try:
        points.set_bonus(current_user, project, raw)
    except ServiceError as exc:
        db.session.rollback()
        return _projects_page(exc.status, exc.errors, {"bonus_points": raw}, project_id)
    db.session.commit()
    flash(_("已更新 %(name)s 的项目奖励积分。", name=project.name), "volunteers")
    return redirect(url_for("volunteers.projects"), 303)
