"""Residents' pages, no login: report a problem, follow it by tracking code, add photos while it is
open, confirm the fix or say it is not fixed.

The tracking code is the only key. Every unknown code — malformed, near a real one or simply
wrong — gets the same 404 page, so the answers give no hints.
"""
from __future__ import annotations

import io

import segno
from flask import (
    Blueprint, Response, abort, current_app, flash, make_response, redirect, render_template, request,
    send_file, url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from casework import events, labels
from casework.extensions import db, htmx, limiter
from casework.public.forms import confirm_values, not_fixed_values, report_values
from casework.services import photos, residents
from casework.services.errors import NotFound, ServiceError

bp = Blueprint("public", __name__)

# Resident-friendly words for where the case is (shared with the Open311 API: casework/labels.py).
STATUS_TEXT = labels.TRACK_STATUS
CLOSED_TEXT = labels.TRACK_CLOSED

# What the resident reads for each public timeline row: no names, no organisations, no notes. The
# workflow's events carry theirs in their spec (casework.events); a report is not a workflow event.
EVENT_TEXT = {"report": _l("事项已登记"), **{s.name: s.public for s in events.SPECS}}
RESIDENT_EVENT_TEXT = {"report": _l("您提交了反映"),
                       **{s.name: s.public_by_resident for s in events.SPECS if s.public_by_resident}}


def event_text(event) -> str:
    """The words for one public timeline row (the resident's own actions in the second person)."""
    if event.event == "resident_photos":  # the row's note holds how many (services.residents)
        return _("您补充了 %(n)s 张照片", n=event.note or "?")
    if event.actor_label == "resident" and event.event in RESIDENT_EVENT_TEXT:
        return str(RESIDENT_EVENT_TEXT[event.event])
    return str(EVENT_TEXT.get(event.event, _l("办理进展更新")))


def _report_limit() -> str:
    """The per-IP limit on submitted reports, read per request so tests and operators can change it."""
    return current_app.config.get("RATELIMIT_REPORT") or "5 per minute"


def _track_limit() -> str:
    """The per-IP limit on tracking-code lookups, read per request like the report limit."""
    return current_app.config.get("RATELIMIT_TRACK") or "60 per minute;600 per day"


# One budget per address for every route that looks a code up (page, QR, photos, answers, the
# lookup form), failed lookups included: guessing codes through /qr.svg costs as much as the page.
_track_limited = limiter.shared_limit(_track_limit, scope="track")
# One budget per address for the posts that store photos: a report, and photos added to a case
# (see add_photos for why they share it).
_upload_limited = limiter.shared_limit(_report_limit, scope="report", methods=["POST"])


@bp.after_request
def _private(response: Response) -> Response:
    """Residents' pages carry personal data and a secret code in the URL: no caches, no referrer, no index."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException):
    """The residents' own error page (no staff navigation), the same for every unknown code."""
    reporting = request.endpoint in ("public.report", "public.add_photos")  # else a tracking lookup
    titles = {404: _("找不到该事项"), 413: _("文件太大"), 429: _("提交太频繁") if reporting else _("操作太频繁")}
    messages = {
        404: _("没有找到对应的内容。请核对跟踪码（10 位字母和数字），或联系您所在社区的网格员。"),
        413: _("上传的内容太大：每张照片不能超过 5 MB，最多 3 张。请压缩后重试。"),
        429: _("您提交得太频繁了，请稍等几分钟再试。如情况紧急，请直接拨打社区电话。") if reporting
        else _("您查询得太频繁了，请稍等几分钟再试。如需帮助，请联系您所在社区的网格员。"),
    }
    status = exc.code or 500
    template = "public/_error.html" if htmx else "public/error.html"
    return render_template(template, status=status, title=titles.get(status, _("请求有误")),
                           message=messages.get(status, _("请求无法完成，请稍后再试。"))), status


def _form_page(values: dict, errors: dict, status: int = 200):
    return render_template(
        "public/report.html", values=values, errors=errors, communities=residents.communities(),
        buildings=residents.buildings(values.get("community_id")), categories=residents.categories(),
        max_photos=photos.MAX_PHOTOS, retention_days=current_app.config["RETENTION_DAYS"],
        sms_consent_text=residents.sms_consent_text()), status


@bp.route("/report", methods=["GET", "POST"])
@_upload_limited
def report():
    """The report form; a valid one creates a case and opens its tracking page with the code and QR."""
    if request.method == "GET":
        return _form_page({}, {})
    values = report_values(request.form)
    try:
        case = residents.submit_report(values, photos.uploaded_files(request.files.getlist("photos")))
    except ServiceError as exc:  # Invalid (422) or PhotoTooLarge (413): the form comes back as typed
        db.session.rollback()
        return _form_page(values, exc.errors, exc.status)
    db.session.commit()
    return redirect(url_for("public.track", code=case.tracking_code, new=1), 303)


@bp.route("/report/buildings")
def buildings():
    """The building choice, narrowed to a community and a search word (an htmx fragment)."""
    community_id = request.args.get("community_id", type=int)
    q = (request.args.get("q") or "").strip()[:40]
    return render_template("public/_building_field.html", errors={},
                           values={"community_id": community_id, "building_id": None, "q": q},
                           buildings=residents.buildings(community_id, q))


@bp.route("/track", methods=["GET"])
@_track_limited
def track_lookup():
    """Type a tracking code to open its page."""
    code = residents.normalise_code(request.args.get("code"))
    if code:
        return redirect(url_for("public.track", code=code))
    return render_template("public/lookup.html")


def _case_or_404(code: str):
    try:
        return residents.find_by_code(code)
    except NotFound:
        abort(404)


def _track_page(case, *, status: int = 200, errors=None, values=None, form: str | None = None,
                message: str | None = None):
    carrying = residents.carrying_case(case) if case.resolution == "duplicate" else None
    return render_template(
        "public/track.html", case=case, status_text=STATUS_TEXT, closed_text=CLOSED_TEXT, event_text=event_text, events=residents.public_timeline(case),
        photos=residents.public_photos(case), carrying=carrying,
        carrying_events=residents.public_timeline(carrying) if carrying else [],
        errors=errors or {}, values=values or {}, open_form=form, message=message,
        photo_room=residents.photo_room(case), max_photos=residents.MAX_RESIDENT_PHOTOS,
        per_upload=photos.MAX_PHOTOS, new=request.args.get("new") == "1"), status


def _answer(case, form: str, values: dict, act):
    """Run a resident's answer on the tracking page: (its result, None) once committed, or (None, the
    page again with the reason next to the field or on top, `values` kept) with nothing saved."""
    try:
        result = act()
    except ServiceError as exc:
        db.session.rollback()
        return None, _track_page(case, status=exc.status, errors=exc.errors, values=values, form=form,
                                 message=None if exc.errors else str(exc.message))
    db.session.commit()
    return result, None


@bp.route("/track/<code>")
@_track_limited
def track(code: str):
    """The case in plain words, its public timeline, and (when resolved) confirm / not fixed."""
    case = _case_or_404(code)
    if code != case.tracking_code:  # one canonical address per case
        return redirect(url_for("public.track", code=case.tracking_code))
    return _track_page(case)


@bp.route("/track/<code>/qr.svg")
@_track_limited
def qr(code: str):
    """A QR code of the tracking page's address, to photograph or print."""
    case = _case_or_404(code)
    target = url_for("public.track", code=case.tracking_code, _external=True)
    buf = io.BytesIO()
    segno.make(target, error="m").save(buf, kind="svg", scale=5, border=2, xmldecl=False,
                                       dark="#163d6b")
    response = make_response(buf.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    # Photos show homes and faces: never kept in a browser's or proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/track/<code>/confirm", methods=["POST"])
@_track_limited
def confirm(code: str):
    """The resident confirms it is fixed and rates it: the case closes."""
    case = _case_or_404(code)
    v = confirm_values(request.form)
    _, refused = _answer(case, "confirm", v, lambda: residents.confirm_fixed(
        case, v["satisfaction"], v["comment"], v["version"]))
    return refused or redirect(url_for("public.track", code=case.tracking_code), 303)


@bp.route("/track/<code>/not-fixed", methods=["POST"])
@_track_limited
def not_fixed(code: str):
    """The resident says it is not fixed: the case goes back to be worked again."""
    case = _case_or_404(code)
    v = not_fixed_values(request.form)
    _, refused = _answer(case, "not_fixed", v, lambda: residents.report_not_fixed(case, v["note"], v["version"]))
    return refused or redirect(url_for("public.track", code=case.tracking_code), 303)


@bp.route("/track/<code>/photos", methods=["POST"])
@_track_limited
@_upload_limited
def add_photos(code: str):
    """The resident adds photos to the open case: back on the tracking page, they show with a timeline line.

    It spends from two budgets per address. The /track one, like every route that takes a code, so
    it cannot be used to guess codes. And the report one: each post of either decodes and stores up
    to three 5 MB images, the expensive part, so one budget bounds what one address can make the
    server decode and keep (a limit of its own would double it, and one more setting to tune).
    """
    case = _case_or_404(code)
    # Refused (409: closed), Invalid (422) or PhotoTooLarge (413)
    added, refused = _answer(case, "photos", {}, lambda: residents.add_resident_photos(
        case, photos.uploaded_files(request.files.getlist("photos"))))
    if refused:
        return refused
    flash(_("已收到您补充的 %(n)d 张照片，网格员会及时查看。", n=len(added)), "photos")
    return redirect(url_for("public.track", code=case.tracking_code, _anchor="photos"), 303)


@bp.route("/track/<code>/photos/<int:attachment_id>")
@bp.route("/track/<code>/photos/<int:attachment_id>/thumb", endpoint="track_thumb", defaults={"thumb": True})
@_track_limited
def track_photo(code: str, attachment_id: int, thumb: bool = False):
    """One of the case's photos (the resident's own, or the handler's "after" photos)."""
    case = _case_or_404(code)
    try:
        att = residents.public_photo(case, attachment_id)
    except NotFound:
        abort(404)
    return send_photo(att, thumb)


def send_photo(att, thumb: bool = False):
    """Stream a stored photo or its thumbnail; a missing file is a 404, not a crash."""
    path = photos.path_of(att.stored_name, thumb=thumb)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="image/jpeg" if thumb else att.content_type, max_age=0,
                         conditional=True, etag=True)
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    # Photos show homes and faces: never kept in a browser's or proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response
