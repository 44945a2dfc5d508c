"""Staff screens: add a volunteer in person, import volunteers (dry run, then apply), link a volunteer
to a staff account (one person, several hats). Routes on the volunteers blueprint."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from casework.extensions import db
from casework.services.errors import ServiceError
from casework.services.volunteers import people, registry
from casework.ui import render_page
from casework.volunteers.staff import _int, _station_action, bp


# Staff add and import volunteers; one person, several hats ----------------------------------------

def _addable_communities():
    return [c for c in registry.communities() if people.may_add_in(current_user, c.id)]


def _new_person_page(values: dict, errors: dict, status: int = 200):
    return render_page("volunteers/new_person.html", values=values, errors=errors,
                           communities=_addable_communities(), consent=registry.CONSENT_TEXT), status


@bp.route("/people/new", methods=["GET", "POST"])
def new_person():
    """Staff register a volunteer met in person (consent given on paper); the station opens their card."""
    if not _addable_communities():
        abort(404)
    if request.method == "GET":
        return _new_person_page({}, {})
    values = {k: (request.form.get(k) or "").strip()[:200] for k in (
        "name", "mobile", "skills", "availability", "consent")}
    values["community_id"] = _int(request.form.get("community_id"))
    try:
        volunteer = people.add(current_user, values)
    except ServiceError as exc:
        db.session.rollback()
        return _new_person_page(values, exc.errors, exc.status)
    db.session.commit()
    flash(_("已登记志愿者：%(name)s", name=volunteer.name), "volunteers")
    return redirect(url_for("volunteers.person", code=volunteer.card_code), 303)


MAX_IMPORT_BYTES = 4 * 1024 * 1024


def _import_staging() -> Path:
    """Where a previewed upload waits for "apply" (a folder per preview, removed once applied)."""
    path = Path(current_app.config["UPLOAD_FOLDER"]) / "volunteer-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _import_page(plan=None, token=None, error=None, status: int = 200, added=None):
    return render_page("volunteers/import.html", plan=plan, token=token, error=error, added=added,
                           columns=people.COLUMNS), status, {"Cache-Control": "no-store"}


@bp.route("/people/import", methods=["GET", "POST"])
def import_people():
    """Upload a CSV/XLSX of volunteers → the dry run (nothing written yet), or a readable 422/413."""
    if not _addable_communities():
        abort(404)
    if request.method == "GET":
        return _import_page()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(error=_("请选择要导入的文件。"), status=422)
    data = upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        return _import_page(error=_("文件太大：最多 %(n)d MB。", n=MAX_IMPORT_BYTES // 2**20), status=413)
    if request.form.get("consent") != "1":
        return _import_page(error=_("请确认名单上的每个人都已书面同意个人信息的收集和使用。"), status=422)
    try:
        plan = people.build_plan(current_user, people.read(upload.filename, data))
    except ServiceError as exc:
        return _import_page(error=str(exc.message), status=exc.status)
    token = None
    if plan.ok and plan.count("add"):
        token = secrets.token_urlsafe(16)
        (_import_staging() / f"{token}{Path(upload.filename).suffix.lower()}").write_bytes(data)
        session["volunteer_import"] = token
    return _import_page(plan, token, status=200 if plan.ok else 422)


@bp.route("/people/import/apply", methods=["POST"])
def import_apply():
    """Apply the previewed file in one transaction (checked again: the database may have changed)."""
    token = request.form.get("token", "")
    files = [p for p in _import_staging().glob(f"{token}.*")] if token == session.get("volunteer_import") else []
    if not token or len(files) != 1:
        return _import_page(error=_("导入预览已失效，请重新上传文件。"), status=409)
    plan = people.build_plan(current_user, people.read(files[0].name, files[0].read_bytes()))
    if not plan.ok:
        return _import_page(plan, None, status=422)
    added = people.apply(current_user, plan)
    db.session.commit()
    files[0].unlink()
    session.pop("volunteer_import", None)
    return _import_page(added=added)


@bp.route("/people/import/template.csv")
def import_template():
    """The import file's headers, to fill in with Excel."""
    return people.template_csv(), 200, {"Content-Type": "text/csv; charset=utf-8",
                                        "Content-Disposition": "attachment; filename=volunteers.csv"}


@bp.route("/people/<code>/account", methods=["POST"])
def link_account(code: str):
    """Link the volunteer to a staff account (one person, several hats), or remove the link."""
    values = {"username": (request.form.get("username") or "").strip()[:80]}

    def act(v):
        if request.form.get("unlink"):
            people.unlink_account(current_user, v)
        else:
            people.link_account(current_user, v, values["username"])
    return _station_action(code, "account", values, act, _("已更新关联账号。"))

