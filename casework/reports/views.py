"""The timeliness dashboard (统计): figures, ranking, weekly trend, overdue cases, and their exports."""
from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, request, stream_with_context, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from casework import access
from casework.extensions import db, htmx
from casework.reports import exports
from casework.reports.forms import ReportForm
from casework.numbers import as_id
from casework.services import audit, charts, hotspots, reports
from casework.services.errors import Invalid, NotFound
from casework.timekeeping import now as clock_now
from casework.ui import DueViews, guard, jurisdiction, render_page

bp = Blueprint("reports", __name__, url_prefix="/reports")


# Supervisors, grid staff, building leaders and handler organisations each have a dashboard of
# their own jurisdiction; anyone else sees 'not found'.
guard(bp, access.may_view_reports)


def _read_filters() -> tuple[ReportForm, tuple | None]:
    """Parse the URL's filters: (form, (period, scope, dim)) or (form with errors, None); 404 outside scope."""
    form = ReportForm(request.args)
    form.fill_defaults(request.args)
    dims = reports.dimensions_for(current_user)
    form.dim.choices = [(d, reports.DIMENSION_LABELS[d]) for d in dims]
    if form.dim.data not in dims:
        form.dim.data = reports.default_dimension(current_user)
    form.community.choices = [("", _("全部"))] + [(str(c.id), c.name) for c in reports.communities_for(jurisdiction())]
    form.grid.choices = [("", _("全部"))] + [(str(g.id), g.name) for g in reports.grids_for(jurisdiction())]
    scope = reports.Scope(form.community_id, form.grid_id)
    try:
        grid = reports.check_scope(jurisdiction(), scope)
    except NotFound:
        abort(404)
    ok = form.validate()
    if grid is not None and scope.community_id is not None and grid.community_id != scope.community_id:
        form.grid.errors = [_("所选网格不属于所选社区，请重新选择。")]
        ok = False
    if not ok:
        return form, None
    return form, (reports.Period(form.start, form.end), scope, form.dim.data)


def _args(form: ReportForm) -> dict:
    """The filters as URL arguments, for export and drill-down links."""
    values = {"from": form.date_from.data, "to": form.date_to.data, "community": form.community.data,
              "grid": form.grid.data, "dim": form.dim.data}
    return {k: v for k, v in values.items() if v}


def _build(params) -> reports.Report:
    period, scope, dim = params
    return reports.build_report(jurisdiction(), period, scope, dim, english=str(get_locale()).startswith("en"))


def _page(form: ReportForm, report: reports.Report | None, status: int = 200):
    """The dashboard page, or just its body for an htmx filter change."""
    template = "reports/_report.html" if htmx and htmx.target == "report-page" else "reports/index.html"
    chart = None
    if report is not None:
        chart = charts.trend_chart([w.received for w in report.weeks], [w.completed for w in report.weeks])
    return render_page(template, form=form, report=report, chart=chart, args=_args(form), due_words=DueViews(),
                       dim_label=reports.DIMENSION_LABELS.get(form.dim.data, ""),
                       show_community=current_user.role == "subdistrict_supervisor",
                       show_grid=current_user.role in reports.SUPERVISOR_ROLES or (
                           current_user.role in reports.GRID_PICKERS and len(form.grid.choices) > 2)), status


@bp.route("/")
def dashboard():
    """The figures for the chosen period and place; bad dates come back with the error next to the field."""
    form, params = _read_filters()
    if params is None:
        return _page(form, None, 422)
    return _page(form, _build(params))


def _attachment(body, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _audit_export(name: str, details: dict) -> None:
    """Every export is in the audit: who took which file (no personal data in the details)."""
    audit.record("export", actor=current_user, obj=name, details=details, address=request.remote_addr or "")
    db.session.commit()


@bp.route("/export.<fmt>")
def export(fmt: str):
    """The page's figures as a CSV or XLSX download."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    form, params = _read_filters()
    if params is None:
        return _page(form, None, 422)
    report = _build(params)
    name = f"timeliness-{report.period.start:%Y%m%d}-{report.period.end:%Y%m%d}-{report.dim}.{fmt}"
    _audit_export(name, {"format": fmt, "dim": report.dim})
    if fmt == "csv":
        return _attachment(exports.figures_csv(report), "text/csv; charset=utf-8", name)
    return _attachment(exports.figures_xlsx(report),
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", name)


@bp.route("/cases.csv")
def case_list():
    """The cases behind one figure (optionally one ranking row) as a CSV download."""
    figure = request.args.get("figure", "")
    raw_group = (request.args.get("group") or "").strip()
    if figure not in reports.FIGURES or (raw_group and as_id(raw_group) is None):
        abort(404)
    form, params = _read_filters()
    if params is None:
        return _page(form, None, 422)
    period, scope, dim = params
    statement = reports.figure_cases(jurisdiction(), period, scope, figure, dim=dim,
                                     group=as_id(raw_group) if raw_group else None)
    rows = db.session.execute(statement.execution_options(yield_per=1000))
    name = f"cases-{figure}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    _audit_export(name, {"figure": figure, "dim": dim, "group": raw_group or None})
    return _attachment(stream_with_context(exports.case_rows_csv(rows, clock_now())), "text/csv; charset=utf-8", name)


@bp.route("/hotspots")
def hotspot_list():
    """Buildings × categories where problems repeat or come back, and companies with repeat complaints."""
    if not access.may_see_hotspots(current_user):
        abort(404)
    found = hotspots.find(current_user, english=str(get_locale()).startswith("en"))
    return render_page("reports/hotspots.html", hs=found, H=hotspots, errors={}, values={})


@bp.route("/hotspots/open", methods=["POST"])
def open_hotspot_case():
    """Open a proactive case (巡查 channel) for one hotspot, linked to the cases that formed it."""
    if not access.may_open_proactive_case(current_user):
        abort(404)
    raw_building, raw_category = request.form.get("building", ""), request.form.get("category", "")
    if not (raw_building.isdigit() and raw_category.isdigit()) or len(raw_building) > 12 or len(raw_category) > 12:
        abort(404)
    try:
        case = hotspots.open_proactive_case(current_user, int(raw_building), int(raw_category),
                                            request.form.get("description", ""))
    except NotFound:
        db.session.rollback()
        abort(404)
    except Invalid as err:
        db.session.rollback()
        found = hotspots.find(current_user, english=str(get_locale()).startswith("en"))
        return render_page("reports/hotspots.html", hs=found, H=hotspots, errors=err.errors,
                               values={"building": raw_building, "category": raw_category,
                                       "description": request.form.get("description", "")}), 422
    db.session.commit()
    return redirect(url_for("cases.detail", case_id=case.id))
