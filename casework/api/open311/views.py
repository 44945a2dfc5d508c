"""Open311 GeoReport v2 endpoints under /open311/v2/: each parses the spec's parameters, checks the
key, calls one service and renders XML or JSON. Errors come back in the spec's shape (400/403/404,
429 with Retry-After), never as an HTML page.
"""
from __future__ import annotations

import re
import time

from flask import Blueprint, current_app, g, request, url_for
from werkzeug.exceptions import HTTPException

from casework.api.open311.render import errors, respond
from casework.extensions import csrf, db, limiter
from casework.services import apikeys, open311
from casework.services.open311 import Open311Error

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)  # machine clients authenticate with an api_key, not a session cookie
FMT = "<any(xml, json):fmt>"
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\]$")


def _rate_key() -> str:
    """Limits are counted per key (by its public prefix), or per address for calls without one."""
    raw = _raw_key() or ""
    parts = raw.split("_", 2)
    if len(parts) == 3 and parts[0] == apikeys.KEY_LEAD:
        return f"open311-key:{parts[1][:16]}"
    return f"open311-addr:{request.remote_addr}"


def _rate_limit() -> str:
    return current_app.config.get("OPEN311_RATELIMIT") or "120 per minute"


limiter.limit(_rate_limit, key_func=_rate_key, scope="open311")(bp)


@bp.url_value_preprocessor
def _take_format(endpoint, values) -> None:
    g.open311_fmt = (values or {}).pop("fmt", "xml")


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _fmt() -> str:
    return getattr(g, "open311_fmt", "xml")


def _raw_key() -> str:
    return (request.values.get("api_key") or request.headers.get("X-Api-Key") or "").strip()


def _lang() -> str:
    wanted = request.values.get("locale") or request.accept_languages.best_match(["zh", "en"]) or "zh"
    return "en" if str(wanted).lower().startswith("en") else "zh_Hans_CN"


def _context(write: bool = False):
    """The jurisdiction and the caller's key (None for a key-less read the admin allows)."""
    subdistrict = open311.jurisdiction(request.values.get("jurisdiction_id"),
                                       current_app.config.get("OPEN311_JURISDICTION_ID", ""))
    raw = _raw_key()
    if not raw and not write and apikeys.public_reads():
        return subdistrict, None
    return subdistrict, apikeys.authenticate(raw)


@bp.errorhandler(Open311Error)
def _spec_error(exc: Open311Error):
    db.session.rollback()
    return errors(_fmt(), exc.status, exc.description)


@bp.errorhandler(apikeys.KeyRefused)
def _refused(exc: apikeys.KeyRefused):
    """403 in the spec's shape; the refusal itself is kept in the audit."""
    db.session.rollback()
    apikeys.refused(exc, address=request.remote_addr or "", path=request.path)
    db.session.commit()
    return errors(_fmt(), 403, exc.description)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    response = errors(_fmt(), status, {404: "not found", 405: "method not allowed",
                                       429: "rate limit exceeded; retry later"}.get(status, exc.name.lower()))
    if status == 429:
        current = limiter.current_limit
        wait = max(1, current.reset_at - int(time.time())) if current is not None else 60
        response.headers["Retry-After"] = str(wait)
    return response


@bp.route(f"/discovery.{FMT}")
def discovery():
    """Where the endpoint is, which spec and formats it speaks (no key needed)."""
    changeset = current_app.config.get("OPEN311_CHANGESET", "2026-12-02T00:00:00+08:00")
    doc = {
        "changeset": changeset,
        "contact": current_app.config.get("OPEN311_CONTACT", ""),
        "key_service": current_app.config.get("OPEN311_KEY_SERVICE", ""),
        "endpoints": [{
            "specification": open311.SPEC_URL,
            "url": url_for("open311.services", fmt="xml", _external=True).rsplit("/", 1)[0],
            "changeset": changeset, "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return respond(_fmt(), "discovery", doc)


@bp.route(f"/services.{FMT}")
def services():
    """The categories as GeoReport services."""
    _context()
    lang = _lang()
    rows = [{"service_code": c.code, "service_name": c.label(lang), "description": c.label(lang),
             "metadata": True, "type": "realtime", "keywords": "", "group": ""}
            for c in open311.services()]
    db.session.commit()
    return respond(_fmt(), "services", rows, "service")


@bp.route(f"/services/<code>.{FMT}")
def service_definition(code: str):
    """One category's attributes (unit, priority)."""
    _context()
    category = open311.service(code)
    doc = {"service_code": category.code, "attributes": open311.attributes(_lang())}
    db.session.commit()
    return respond(_fmt(), "service_definition", doc)


@bp.route(f"/requests.{FMT}", methods=["GET"])
def requests():
    """Requests in the key's communities, filtered as the spec says (90 days / 1,000 by default)."""
    subdistrict, key = _context()
    rows = open311.find_requests(subdistrict, key, open311.parse_filter(request.args), _lang())
    db.session.commit()
    return respond(_fmt(), "service_requests", rows, "request")


@bp.route(f"/requests.{FMT}", methods=["POST"])
def create_request():
    """A new case (channel api) from the caller's fields; answers its number and tracking link."""
    subdistrict, key = _context(write=True)
    attributes = {m.group(1): v for k, v in request.form.items() if (m := _ATTRIBUTE.match(k))}
    case, link = open311.create_request(
        key, subdistrict, request.form.to_dict(), attributes,
        max_distance_m=float(current_app.config.get("OPEN311_MAX_DISTANCE_M", 300)),
        address=request.remote_addr or "")
    db.session.commit()
    row = {"service_request_id": case.number, "token": link.token,
           "service_notice": url_for("public.track", code=case.tracking_code, _external=True),
           "account_id": link.account_id or None}
    return respond(_fmt(), "service_requests", [row], "request")


@bp.route(f"/requests/<number>.{FMT}")
def request_by_id(number: str):
    """One request by its case number, still inside the spec's list wrapper."""
    subdistrict, key = _context()
    row = open311.get_request(subdistrict, key, number, _lang())
    db.session.commit()
    return respond(_fmt(), "service_requests", [row], "request")


@bp.route(f"/tokens/<token>.{FMT}")
def token(token: str):
    """The case number behind a POST's token."""
    subdistrict, key = _context()
    row = open311.find_token(subdistrict, key, token)
    db.session.commit()
    return respond(_fmt(), "service_requests", [row], "request")


@bp.route("/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str):
    """Any other address under /open311/v2/ is a 404 in the spec's shape (JSON if it asked for JSON)."""
    g.open311_fmt = "json" if rest.endswith(".json") else "xml"
    return errors(_fmt(), 404, "not found")
