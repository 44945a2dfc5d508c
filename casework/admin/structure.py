"""Structure screens: communities, grids, buildings, organisations, categories and accounts,
each a list with a new-row form and rows edited in place (htmx); and the workbook import/export."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import abort, current_app, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from casework import access
from casework.admin.views import bp
from casework.extensions import db
from casework.labels import ORG_KIND, PRIORITY, ROLE
from casework.models.cases import mask_phone
from casework.services import activation, importing, structure
from casework.services.errors import ServiceError, Stale
from casework.ui import render_page

TITLES = {"community": _l("社区"), "grid": _l("网格"), "building": _l("楼栋"), "organisation": _l("单位"),
          "category": _l("事项类别"), "user": _l("人员账号")}
# (field, label, input kind, choices source or None, only when creating)
FIELDS = {
    "community": [("code", _l("编码"), "text", None, False), ("name", _l("名称"), "text", None, False)],
    "grid": [("code", _l("编码"), "text", None, False), ("name", _l("名称"), "text", None, False),
             ("community_id", _l("所属社区"), "select", "community", False)],
    "building": [("code", _l("编码"), "text", None, False), ("name", _l("名称"), "text", None, False),
                 ("address", _l("地址"), "text", None, False), ("grid_id", _l("网格"), "select", "grid", False),
                 ("property_company_id", _l("物业"), "select", "property", False),
                 ("leader_id", _l("楼栋长"), "select", "leader", False),
                 ("units", _l("单元数"), "number", None, False), ("households", _l("户数"), "number", None, False),
                 ("latitude", _l("纬度"), "decimal", None, False), ("longitude", _l("经度"), "decimal", None, False)],
    "organisation": [("code", _l("编码"), "text", None, False), ("name", _l("名称"), "text", None, False),
                     ("kind", _l("类型"), "select", "org_kind", False),
                     ("contact_name", _l("联系人"), "text", None, False), ("phone", _l("联系电话"), "phone", None, False),
                     ("community_ids", _l("服务社区"), "multi", "community", False)],
    "category": [("code", _l("编码"), "text", None, True), ("name_zh", _l("中文名称"), "text", None, False),
                 ("name_en", _l("英文名称"), "text", None, False),
                 ("default_priority", _l("默认紧急程度"), "select", "priority", False)],
    "user": [("username", _l("账号"), "text", None, True), ("display_name", _l("姓名"), "text", None, False),
             ("role", _l("角色"), "select", "role", False), ("phone", _l("手机号"), "phone", None, False),
             ("organisation_id", _l("单位"), "select", "organisation", False),
             ("community_id", _l("社区"), "select", "community", False),
             ("grid_ids", _l("负责网格"), "multi", "grid", False), ("building_ids", _l("负责楼栋"), "multi", "building", False)],
}
LIST_LIMIT = 300


def _options(kind: str) -> dict[str, list[tuple[str, str]]]:
    """Every select's (value, label) pairs for this screen, read once."""
    out = {}
    for _f, _label, _input, source, _create in FIELDS[kind]:
        if source is None or source in out:
            continue
        if source == "org_kind":
            out[source] = [(k, str(v)) for k, v in ORG_KIND.items()]
        elif source == "priority":
            out[source] = [(k, str(v)) for k, v in PRIORITY.items()]
        elif source == "role":
            roles = ROLE if access.may_manage_all_structure(current_user) else {"building_leader": ROLE["building_leader"]}
            out[source] = [(k, str(v)) for k, v in roles.items()]
        elif source in ("organisation", "building"):
            out[source] = [(str(r.id), f"{r.code} {r.name}") for r in structure.rows(source, current_user)]
        else:
            out[source] = [(str(i), label) for i, label in structure.choices(source, current_user)]
    return out


def value_of(row, name: str):
    """The row's value for a form field (lists of ids for many-valued fields)."""
    if row is None:
        return ""
    if name == "community_ids":
        return [str(c.id) for c in row.communities]
    if name == "grid_ids":
        return [str(g.id) for g in row.grids]
    if name == "building_ids":
        return [str(b.id) for b in row.buildings]
    if name == "leader_id":
        leaders = structure.leaders_of(row)
        return str(leaders[0].id) if leaders else ""
    value = getattr(row, name, "")
    return "" if value is None else str(value)


def shown(row, name: str, options: dict, source) -> str:
    """What the list shows for a field: labels for references, masked phones."""
    if name == "phone":
        return mask_phone(row.phone)
    if name == "leader_id":
        return "、".join(u.display_name for u in structure.leaders_of(row))
    value = value_of(row, name)
    if source is not None:
        labels = dict(options.get(source, []))
        if isinstance(value, list):
            return "、".join(labels.get(v, v) for v in value)
        if source in ("community", "grid", "property", "organisation") and value and value not in labels:
            return {"community_id": lambda: row.community.name, "grid_id": lambda: row.grid.name,
                    "property_company_id": lambda: row.property_company.name,
                    "organisation_id": lambda: row.organisation.name}.get(name, lambda: value)()
        return labels.get(value, value)
    return value


def _ctx(kind: str, **kw) -> dict:
    return {"kind": kind, "fields": FIELDS[kind], "titles": TITLES, "options": _options(kind),
            "value_of": value_of, "shown": shown, "staff_of": structure.staff_of, "kinds": _visible_kinds(), **kw}


def _visible_kinds() -> list[str]:
    return [k for k in structure.KINDS if access.may_edit_structure(current_user, k, None)]


def _kind_or_404(kind: str) -> str:
    if kind not in structure.KINDS or not access.may_edit_structure(current_user, kind, None):
        abort(404)
    return kind


@bp.route("/structure/")
def structure_home():
    """The first structure list the user may manage."""
    from flask import redirect
    return redirect(url_for("admin.structure_list", kind=_visible_kinds()[0]))


@bp.route("/structure/<kind>/", methods=["GET", "POST"])
def structure_list(kind: str):
    """The list with its new-row form; posting the form creates a row (errors next to the fields)."""
    kind = _kind_or_404(kind)
    errors, values, status, message, code = {}, {}, 200, None, None
    if request.method == "POST":
        try:
            saved = structure.save(current_user, kind, None, request.form)
            if kind == "user":
                code = activation.issue(current_user, saved.row)
        except ServiceError as exc:
            db.session.rollback()
            errors, status, message = exc.errors, exc.status, exc.message
            values = {k: (request.form.getlist(k) if len(request.form.getlist(k)) > 1 or k.endswith("_ids")
                          else request.form.get(k)) for k in request.form}
        else:
            db.session.commit()
            message = _l("已新增 %(what)s。", what=getattr(saved.row, "code", None) or saved.row.username)
    q = (request.args.get("q") or "").strip()
    rows = [r for r in structure.rows(kind, current_user)
            if not q or q in (getattr(r, "code", None) or "") or q in (getattr(r, "name", None) or
                                                                        getattr(r, "display_name", ""))]
    response = render_page("admin/structure.html", rows=rows[:LIST_LIMIT], total=len(rows), q=q,
                               errors=errors, values=values, message=message,
                               activation=(saved.row.username, code) if code else None, **_ctx(kind))
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/structure/<kind>/<int:row_id>", methods=["GET", "POST"])
def structure_row(kind: str, row_id: int):
    """One row: shown (GET), or saved from its in-place form (POST) → the row again, 422 or 409."""
    kind = _kind_or_404(kind)
    try:
        row = structure.get(kind, current_user, row_id)
    except ServiceError:
        abort(404)
    if request.method == "GET":
        editing = request.args.get("edit") == "1"
        return render_template("admin/_srow.html", row=row, editing=editing, errors={}, values={},
                               **_ctx(kind)), 200, {"Cache-Control": "no-store"}
    try:
        saved = structure.save(current_user, kind, row_id, request.form, request.form.get("version"))
    except Stale as exc:
        db.session.rollback()
        row = structure.get(kind, current_user, row_id)
        return render_template("admin/_srow.html", row=row, editing=False, errors={}, values={},
                               stale=exc.message, **_ctx(kind)), 409
    except ServiceError as exc:
        db.session.rollback()
        row = structure.get(kind, current_user, row_id)
        values = {k: request.form.getlist(k) if k.endswith("_ids") else request.form.get(k) for k in request.form}
        return render_template("admin/_srow.html", row=row, editing=True, errors=exc.errors, values=values,
                               problem=exc.message, **_ctx(kind)), exc.status
    db.session.commit()
    note = _l("已保存；%(n)d 件未办结案件已在时间线上记录楼栋调整。", n=saved.moved_cases) if saved.moved_cases else None
    return render_template("admin/_srow.html", row=saved.row, editing=False, errors={}, values={},
                           note=note, **_ctx(kind))


@bp.route("/structure/user/<int:row_id>/activation", methods=["POST"])
def issue_activation(row_id: int):
    """A new one-time code for an account (shown once, here)."""
    try:
        user = structure.get("user", current_user, row_id)
    except ServiceError:
        abort(404)
    code = activation.issue(current_user, user)
    db.session.commit()
    return render_template("admin/_srow.html", row=user, editing=False, errors={}, values={},
                           activation=(user.username, code), **_ctx("user")), 200, {"Cache-Control": "no-store"}


# ---- import / export ----------------------------------------------------------------------------

def _admin_only() -> None:
    if not access.may_manage_all_structure(current_user):
        abort(404)


def _staging() -> Path:
    """Where previewed uploads wait for "apply"; previews left a day are removed."""
    import shutil
    import time
    path = Path(current_app.config["UPLOAD_FOLDER"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    for old in path.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > 86400:  # file age, not a clock reading
            shutil.rmtree(old, ignore_errors=True)
    return path


MAX_IMPORT_BYTES = 8 * 1024 * 1024


@bp.route("/import", methods=["GET", "POST"])
def import_page():
    """Upload → the dry-run plan (nothing changed yet), or a readable 422/413."""
    _admin_only()
    if request.method == "GET":
        return render_page("admin/import.html", plan=None)
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        return render_page("admin/import.html", plan=None, error=_l("请选择要导入的文件。")), 422
    files = []
    for f in uploads:
        data = f.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            return render_page("admin/import.html", plan=None,
                                   error=_l("文件太大：每个文件最多 %(n)d MB。", n=MAX_IMPORT_BYTES // 2**20)), 413
        files.append((f.filename, data))
    try:
        plan = importing.build_plan(importing.read_files(files))
    except ServiceError as exc:
        return render_page("admin/import.html", plan=None, error=exc.message), exc.status
    token = None
    if plan.ok and plan.changed():
        token = secrets.token_urlsafe(16)
        folder = _staging() / token
        folder.mkdir()
        for i, (name, data) in enumerate(files):
            (folder / f"{i}-{Path(name).name}").write_bytes(data)
        session["import_token"] = token
    return render_page("admin/import.html", plan=plan, token=token), 200 if plan.ok else 422


@bp.route("/import/apply", methods=["POST"])
def import_apply():
    """Apply the previewed files in one transaction; show the new accounts' activation codes once."""
    _admin_only()
    token = request.form.get("token", "")
    if not token or token != session.get("import_token"):
        return render_page("admin/import.html", plan=None,
                               error=_l("导入预览已失效，请重新上传文件。")), 409
    folder = _staging() / token
    if not folder.is_dir():
        session.pop("import_token", None)
        return render_page("admin/import.html", plan=None,
                               error=_l("导入预览已失效，请重新上传文件。")), 409
    files = [(p.name.split("-", 1)[1], p.read_bytes()) for p in sorted(folder.iterdir())]
    plan = importing.build_plan(importing.read_files(files))
    if not plan.ok:
        return render_page("admin/import.html", plan=plan, token=None), 422
    applied = importing.apply(current_user, plan)
    db.session.commit()
    session.pop("import_token", None)
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    return render_page("admin/import_done.html", applied=applied,
                           sheets=importing.slips_by_area(applied.slips)), 200, {"Cache-Control": "no-store"}


@bp.route("/export.xlsx")
def export_workbook():
    """The whole structure as a workbook in the import format."""
    _admin_only()
    data = importing.export_workbook()
    importing.record_export(current_user, "workbook")
    db.session.commit()
    return _download(data, "structure.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/export/<sheet>.csv")
def export_csv(sheet: str):
    _admin_only()
    if sheet not in importing.COLUMNS:
        abort(404)
    data = importing.export_csv(sheet)
    importing.record_export(current_user, sheet)
    db.session.commit()
    return _download(data, f"{sheet}.csv", "text/csv; charset=utf-8")


@bp.route("/import/template.xlsx")
def import_template():
    _admin_only()
    return _download(importing.template_workbook(), "structure-template.xlsx",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _download(data: bytes, name: str, mimetype: str):
    from urllib.parse import quote
    response = current_app.response_class(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "no-store"
    return response
