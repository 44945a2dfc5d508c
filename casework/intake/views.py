"""Staff intake of a request taken by phone, in person or on patrol."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from flask_babel import get_locale
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from casework import access
from casework.extensions import db
from casework.intake.forms import IntakeForm
from casework.models import Category
from casework.services import intake
from casework.ui import jurisdiction
from casework.services.errors import Invalid
from casework.ui import render_page

bp = Blueprint("intake", __name__, url_prefix="/intake")


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_case():
    """Show the intake form; a valid one creates a case and opens it."""
    buildings = intake.buildings_for(jurisdiction())
    if not buildings or not access.may_take_intake(current_user):
        abort(404)
    form = IntakeForm()
    form.category_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(c.id, c.label(str(get_locale()))) for c in
        db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.id))]
    form.building_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(b.id, f"{b.grid.name} · {b.name}") for b in buildings]
    status = 200
    if form.validate_on_submit():
        try:
            case = intake.create_case(
                current_user, title=form.title.data, description=form.description.data,
                category_id=form.category_id.data, building_id=form.building_id.data,
                unit=form.unit.data, priority=form.priority.data or None, channel=form.channel.data,
                reporter_name=form.reporter_name.data, reporter_phone=form.reporter_phone.data)
        except Invalid as exc:
            db.session.rollback()
            for name, message in exc.errors.items():
                getattr(form, name).errors.append(message)
            status = 422
        else:
            db.session.commit()
            return redirect(url_for("cases.detail", case_id=case.id))
    elif form.is_submitted():
        status = 422
    return render_page("intake/new.html", form=form), status
