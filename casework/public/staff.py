"""Staff-side pieces of the residents' feature on the case page: photos (thumbnails, downloads,
handlers' "after" photos), the recorded "show number" action and the duplicates list at triage.

Every route loads the case through ui.get_case_or_404, so a photo outside the user's scope is a 404
exactly like a case outside it.
"""
from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from casework import access
from casework.extensions import db, htmx
from casework.public.views import send_photo
from casework.services import photos, residents
from casework.services.errors import NotFound, ServiceError
from casework.ui import get_case_or_404, jurisdiction, render_page

bp = Blueprint("public_staff", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def _require_login():
    """Staff only."""


@bp.route("/<int:case_id>/photos/<int:attachment_id>")
@bp.route("/<int:case_id>/photos/<int:attachment_id>/thumb", endpoint="thumb", defaults={"thumb": True})
def photo(case_id: int, attachment_id: int, thumb: bool = False):
    """A photo of a case the user may see (a thumbnail, or the full image; ?download=1 saves it)."""
    case = get_case_or_404(case_id, jurisdiction())
    try:
        att = residents.public_photo(case, attachment_id)
    except NotFound:
        abort(404)
    response = send_photo(att, thumb)
    if request.args.get("download") == "1" and not thumb:
        response.headers["Content-Disposition"] = f'attachment; filename="{case.number}-{att.id}{photos.FORMATS_EXT.get(att.content_type, "")}"'
    return response


def _photos_fragment(case, *, status: int = 200, errors=None):
    return make_response(render_template("public/_staff_photos.html", case=case, photo_errors=errors or {},
                                         may_add_photo=access.may_add_after_photo(current_user, case)), status)


@bp.route("/<int:case_id>/photos", methods=["POST"])
def add_photos(case_id: int):
    """The handler adds photos of the finished work; the photos block re-renders."""
    case = get_case_or_404(case_id, jurisdiction())
    try:
        photos.add_after_photos(current_user, case, photos.uploaded_files(request.files.getlist("photos")))
    except ServiceError as exc:
        db.session.rollback()
        if htmx:
            return _photos_fragment(case, status=exc.status, errors=exc.errors or {"photos": exc.message})
        return render_page("error.html", status=exc.status, title=_("上传未完成"),
                               message=" ".join(str(m) for m in (exc.errors or {"": exc.message}).values())), exc.status
    db.session.commit()
    if htmx:
        return _photos_fragment(case)
    return redirect(url_for("cases.detail", case_id=case.id), 303)


@bp.route("/<int:case_id>/phone", methods=["POST"])
def reveal_phone(case_id: int):
    """Show the reporter's full number (grid staff and supervisors of the case); each reveal is recorded."""
    case = get_case_or_404(case_id, jurisdiction())
    try:
        phone = residents.reveal_phone(current_user, case, address=request.remote_addr or "")
    except ServiceError:
        db.session.commit()  # only the audit row of the refused attempt
        abort(403)
    db.session.commit()
    response = make_response(render_template("public/_staff_phone_revealed.html", case=case, phone=phone))
    response.headers["Cache-Control"] = "no-store"
    return response
