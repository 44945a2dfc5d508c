"""Admin configuration: time limits per category × priority × stage, and the holiday calendar overrides."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from casework import access
from casework.extensions import db
from casework.services import policy_admin
from casework.services.errors import Invalid
from casework.ui import guard, render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


# Administrators (and community supervisors, for their community's structure) only; others see a 404.
guard(bp, access.may_open_admin)


def _config_only() -> None:
    if not access.may_administer(current_user):
        abort(404)


@bp.route("/")
def index():
    """The admin's start page: the structure screens."""
    return redirect(url_for("admin.structure_home"))


@bp.route("/limits", methods=["GET", "POST"])
def limits():
    """The time-limit table; saving checks every cell and changes nothing if one is wrong."""
    _config_only()
    errors: dict = {}
    values = dict(request.form) if request.method == "POST" else {}
    status = 200
    if request.method == "POST":
        try:
            changed = policy_admin.save_limits(current_user, request.form.get("category", ""), request.form)
        except Invalid as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
        else:
            db.session.commit()
            return redirect(url_for("admin.limits", category=request.form.get("category", ""), saved=changed))
    category = request.args.get("category", request.form.get("category", ""))
    return render_page("admin/limits.html", table=policy_admin.limit_table(category), category=category,
                       categories=policy_admin.categories(), errors=errors, values=values,
                       saved=request.args.get("saved")), status


@bp.route("/holidays", methods=["GET", "POST"])
def holidays():
    """Holiday / working-day overrides for dates the holiday package does not know yet."""
    _config_only()
    errors: dict = {}
    values = dict(request.form) if request.method == "POST" else {}
    status = 200
    if request.method == "POST":
        try:
            policy_admin.add_override(current_user, request.form.get("day", ""), request.form.get("kind", ""),
                                      request.form.get("note", ""))
        except Invalid as exc:
            db.session.rollback()
            errors, status = exc.errors, 422
        else:
            db.session.commit()
            return redirect(url_for("admin.holidays"))
    year = dt.date.today().year
    return render_page("admin/holidays.html", overrides=policy_admin.overrides(), errors=errors,
                       values=values, years=policy_admin.year_status([year, year + 1])), status


@bp.route("/holidays/<int:override_id>/delete", methods=["POST"])
def delete_holiday(override_id: int):
    """Remove one override; the package's calendar applies to that date again."""
    _config_only()
    policy_admin.delete_override(current_user, override_id)
    db.session.commit()
    return redirect(url_for("admin.holidays"))


from casework.admin import structure as _structure_views  # noqa: E402,F401  (registers the structure routes)
