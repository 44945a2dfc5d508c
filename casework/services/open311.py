"""Open311 GeoReport v2 on top of the case services: the jurisdiction, services (categories) and
their definitions, reading requests with exactly what the tracking page may show, and creating a
case from a POST through the same intake as every other channel.

Nothing here renders XML or JSON (that is the API blueprint's job) and nothing reads the request:
the key, the caller's fields and the language come in as arguments.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import secrets
from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from casework import labels
from casework.extensions import db
from casework.models import ApiKey, ApiRequest, Building, Case, Category, Community, Grid, Organisation, Subdistrict
from casework.services import apikeys, audit, intake
from casework.services.errors import Invalid, ServiceError
from casework.timekeeping import CHINA_TZ, now
from casework.workflow import PRIORITIES

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ("xml", "json")
WINDOW = dt.timedelta(days=90)
MAX_REQUESTS = 1000
DESCRIPTION_MAX = 4000


class Open311Error(ServiceError):
    """An error in GeoReport's shape: the HTTP status is also the error code the spec's examples use."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def attributes(lang: str) -> list[dict]:
    """The attributes of every service definition (all optional), in the caller's language."""
    with force_locale(lang):
        return [
            {"variable": True, "code": "unit", "datatype": "string", "required": False,
             "datatype_description": "e.g. 2单元301", "order": 1, "description": str(_l("单元/房号")), "values": []},
            {"variable": True, "code": "priority", "datatype": "singlevaluelist", "required": False,
             "datatype_description": "", "order": 2, "description": str(_l("紧急程度")),
             "values": [{"key": p, "name": str(labels.PRIORITY[p])} for p in PRIORITIES]},
        ]


# Jurisdiction and services ------------------------------------------------------------------------

def jurisdiction(jurisdiction_id: str | None, configured: str = "") -> Subdistrict:
    """The subdistrict a jurisdiction_id names: the configured id, its name or its number.

    Optional while the server holds one subdistrict (the spec: required only when an endpoint serves
    several jurisdictions).
    """
    subdistricts = list(db.session.scalars(select(Subdistrict).order_by(Subdistrict.id)))
    jid = (jurisdiction_id or "").strip()
    if not jid:
        if len(subdistricts) == 1:
            return subdistricts[0]
        raise Open311Error(400, "jurisdiction_id was not provided")
    for sd in subdistricts:
        if jid in (sd.name, str(sd.id)) or (configured and jid == configured and sd is subdistricts[0]):
            return sd
    raise Open311Error(404, "jurisdiction_id provided was not found")


def services() -> list[Category]:
    return list(db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.id)))


def service(code: str) -> Category:
    """The active category with this service_code, or a 404 in GeoReport's shape."""
    category = db.session.scalars(select(Category).where(Category.code == code, Category.active.is_(True))).first()
    if category is None:
        raise Open311Error(404, "service_code provided was not found")
    return category


# Reading requests ------------------------------------------------------------------------------

def iso(value: dt.datetime | None) -> str | None:
    """A stored China-local naive time as W3C ISO 8601 with its +08:00 offset."""
    if value is None:
        return None
    # China has kept +08:00 all year since 1991, so the offset is a constant (cheaper per row).
    return value.isoformat(timespec="seconds") + "+08:00"


def parse_datetime(raw: str, name: str) -> dt.datetime:
    """An ISO 8601 time from the caller (offset or Z; none means China time) as China-local naive."""
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace(" ", "+") if "T" in raw else raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name} is not a W3C ISO 8601 date/time, e.g. 2026-12-02T09:30:00+08:00") from None
    if value.tzinfo is not None:
        value = value.astimezone(CHINA_TZ).replace(tzinfo=None)
    return value


@dataclass
class RequestFilter:
    ids: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: list[str] = field(default_factory=list)
    page: int = 1
    page_size: int = MAX_REQUESTS


def parse_filter(args: dict) -> RequestFilter:
    """GET requests' query parameters, checked (400 on a bad one), with the 90-day window applied."""
    f = RequestFilter()
    f.ids = [x.strip() for x in (args.get("service_request_id") or "").split(",") if x.strip()][:MAX_REQUESTS]
    f.service_codes = [x.strip() for x in (args.get("service_code") or "").split(",") if x.strip()]
    f.statuses = [x.strip().lower() for x in (args.get("status") or "").split(",") if x.strip()]
    if any(s not in ("open", "closed") for s in f.statuses):
        raise Open311Error(400, "status must be open or closed (comma separated for both)")
    start = parse_datetime(args["start_date"], "start_date") if args.get("start_date") else None
    end = parse_datetime(args["end_date"], "end_date") if args.get("end_date") else None
    if start and end:
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > WINDOW:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    elif start:
        end = start + WINDOW
    else:
        end = end or now()
        start = end - WINDOW
    f.start, f.end = start, end
    for name in ("page", "page_size"):
        raw = args.get(name)
        if raw:
            if not str(raw).isdigit() or int(raw) < 1:
                raise Open311Error(400, f"{name} must be a positive whole number")
            setattr(f, name, int(raw))
    f.page_size = min(f.page_size, MAX_REQUESTS)
    return f


def _row_query(subdistrict: Subdistrict, communities: set[int] | None) -> Select:
    """The columns a public request shows, one row per case, limited to the key's communities."""
    query = _row_select()
    ids = community_ids_of(subdistrict)
    if communities is not None:
        ids = [i for i in ids if i in communities]
    return query.where(Case.community_id.in_(ids) if len(ids) != 1 else Case.community_id == ids[0]) if ids \
        else query.where(False)


def _row_select() -> Select:
    """The columns a public request shows, one row per case."""
    org = aliased(Organisation)
    query = (select(Case.id, Case.number, Case.status, Case.resolution, Case.created_at, Case.updated_at,
                    Case.due_at, Category.code, Category.name_zh, Category.name_en, org.name.label("org_name"),
                    org.kind.label("org_kind"),
                    Community.name.label("community_name"), Building.id.label("building_id"),
                    Building.address, Building.name.label("building_name"), Building.latitude.label("lat"), Building.longitude.label("long"))
             .join(Category, Category.id == Case.category_id)
             .join(Community, Community.id == Case.community_id)
             .join(Building, Building.id == Case.building_id)
             .outerjoin(org, org.id == Case.assigned_org_id))
    return query


def community_ids_of(subdistrict: Subdistrict) -> list[int]:
    return list(db.session.scalars(select(Community.id).where(Community.subdistrict_id == subdistrict.id)
                                   .order_by(Community.id)))


def find_requests(subdistrict: Subdistrict, key: ApiKey | None, f: RequestFilter, lang: str) -> list[dict]:
    """Requests in the key's communities: by id list (which overrides every other filter, as the spec
    says) or by service code, status and requested time in the window; newest first, one page."""
    query = _row_query(subdistrict, apikeys.community_ids(key))
    if f.ids:
        query = query.where(Case.number.in_(f.ids)).order_by(Case.created_at.desc(), Case.id.desc())
    else:
        # Times are shown to the second, so an end time includes its whole second.
        query = query.where(Case.created_at >= f.start, Case.created_at < f.end + dt.timedelta(seconds=1))
        if f.service_codes:
            query = query.where(Category.code.in_(f.service_codes))
        if f.statuses == ["open"]:
            query = query.where(Case.status != "closed")
        elif f.statuses == ["closed"]:
            query = query.where(Case.status == "closed")
        query = (query.order_by(Case.created_at.desc(), Case.id.desc())
                 .limit(f.page_size).offset((f.page - 1) * f.page_size))
    return _answer(db.session.execute(query).all(), lang)


def _answer(rows, lang: str) -> list[dict]:
    """Rows as GeoReport requests, with the media links of those that came through this API (looked
    up by id afterwards: one small indexed query instead of an outer join on every row)."""
    words = status_words(lang)
    media = {case_id: url for case_id, url in db.session.execute(
        select(ApiRequest.case_id, ApiRequest.media_url).where(
            ApiRequest.case_id.in_([r.id for r in rows]), ApiRequest.media_url != ""))} if rows else {}
    return [public_request(row, lang, words, media.get(row.id)) for row in rows]


def get_request(subdistrict: Subdistrict, key: ApiKey | None, number: str, lang: str) -> dict:
    """One request by case number in the key's communities, or a 404 (outside them too: no hints)."""
    row = db.session.execute(_row_query(subdistrict, apikeys.community_ids(key)).where(Case.number == number)).first()
    if row is None:
        raise Open311Error(404, "service_request_id provided was not found")
    return _answer([row], lang)[0]


def request_of_case(case_id: int, lang: str) -> dict:
    """One case as GeoReport shows it (a status push: the same fields and words as GET requests/{id})."""
    row = db.session.execute(_row_select().where(Case.id == case_id)).one()
    return _answer([row], lang)[0]


def status_words(lang: str) -> dict:
    """The tracking page's sentences in one language, keyed by status and by closing resolution
    (looked up once per answer: switching the locale per row would cost more than the query)."""
    with force_locale(lang):
        words = {status: str(text) for status, text in labels.TRACK_STATUS.items()}
        words.update({("closed", r): str(text) for r, text in labels.TRACK_CLOSED.items()})
    return words


def public_request(row, lang: str, words: dict, media_url: str | None = None) -> dict:
    """A request as GeoReport shows it: only what /track may show, in /track's words; no people, no notes.

    `description` and `service_notice` stay empty: the description is the resident's own free text
    (it may hold names and numbers) and the tracking link carries the resident's only credential.
    """
    notes = words.get((row.status, row.resolution)) or words.get(row.status, "")
    return {
        "service_request_id": row.number,
        "status": "closed" if row.status == "closed" else "open",
        "status_notes": notes,
        "service_name": row.name_en if lang.startswith("en") else row.name_zh,
        "service_code": row.code,
        "description": None,
        # An individual partner's name is a person's name: the community answers for them.
        "agency_responsible": (row.org_name if row.org_name and row.org_kind != "individual"
                               else row.community_name),
        "service_notice": None,
        "requested_datetime": iso(row.created_at),
        "updated_datetime": iso(row.updated_at),
        "expected_datetime": iso(row.due_at),
        "address": row.address or row.building_name,
        "address_id": str(row.building_id),
        "zipcode": None,
        "lat": row.lat,
        "long": row.long,
        "media_url": media_url or None,
    }


def find_token(subdistrict: Subdistrict, key: ApiKey | None, token: str) -> dict:
    """The request a POST's token stands for (requests are created at once, so it always has an id)."""
    query = (select(Case.number, ApiRequest.token).join(ApiRequest, ApiRequest.case_id == Case.id)
             .where(ApiRequest.token == token, Case.community_id.in_(community_ids_of(subdistrict))))
    communities = apikeys.community_ids(key)
    if communities is not None:
        query = query.where(Case.community_id.in_(communities))
    row = db.session.execute(query).first()
    if row is None:
        raise Open311Error(404, "token provided was not found")
    return {"service_request_id": row.number, "token": row.token}


# Creating a request ----------------------------------------------------------------------------

def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371000 * math.asin(math.sqrt(a))


def locate(subdistrict: Subdistrict, fields: dict, max_distance_m: float) -> Building:
    """The building a POST names: address_id, else an exact address_string, else the nearest building
    to lat/long within `max_distance_m`. Anything else is a 400, never a guess."""
    in_subdistrict = (select(Building).join(Grid, Grid.id == Building.grid_id)
                      .join(Community, Community.id == Grid.community_id)
                      .where(Community.subdistrict_id == subdistrict.id))
    address_id = (fields.get("address_id") or "").strip()
    address = re.sub(r"\s+", "", fields.get("address_string") or "")
    lat, long = (fields.get("lat") or "").strip(), (fields.get("long") or "").strip()
    if address_id:
        building = (db.session.scalars(in_subdistrict.where(Building.id == int(address_id))).first()
                    if address_id.isdigit() and len(address_id) < 10 else None)
        if building is None:
            raise Open311Error(400, "address_id provided was not found")
        return building
    if address:
        found = list(db.session.scalars(in_subdistrict.where(
            (func.replace(Building.address, " ", "") == address) | (Building.name == address)
            | (Community.name + Building.name == address))))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Open311Error(400, "address_string matches several buildings; send address_id or the full address")
        raise Open311Error(400, "address_string did not match any building in this jurisdiction")
    if lat or long:
        try:
            la, lo = float(lat), float(long)
        except ValueError:
            raise Open311Error(400, "lat and long must both be decimal degrees (WGS-84)") from None
        if not (-90 <= la <= 90 and -180 <= lo <= 180):
            raise Open311Error(400, "lat and long must both be decimal degrees (WGS-84)")
        placed = db.session.scalars(in_subdistrict.where(Building.latitude.is_not(None), Building.longitude.is_not(None))).all()
        best = min(placed, key=lambda b: _distance_m(la, lo, b.latitude, b.longitude), default=None)
        if best is None or _distance_m(la, lo, best.latitude, best.longitude) > max_distance_m:
            raise Open311Error(400, f"no building within {max_distance_m:.0f} m of lat/long; send address_string or address_id")
        return best
    raise Open311Error(400, "a location is required: lat and long, address_string or address_id")


def _title(description: str, category: Category) -> str:
    first = description.strip().splitlines()[0].strip() if description.strip() else ""
    if not first:
        return category.name_zh
    return first if len(first) <= 40 else first[:39] + "…"


def _check_media_url(url: str) -> str:
    url = (url or "").strip()
    if url and (len(url) > 2000 or not re.match(r"^https?://[^\s/]+", url)):
        raise Open311Error(400, "media_url must be an http(s) URL of at most 2,000 characters")
    return url


FIELD_NAMES = {"reporter_phone": "phone", "reporter_name": "first_name/last_name", "title": "description",
               "category_id": "service_code", "building_id": "address_string"}


def create_request(key: ApiKey, subdistrict: Subdistrict, fields: dict, attributes_in: dict, *,
                   max_distance_m: float, address: str = "") -> tuple[Case, ApiRequest]:
    """A POSTed request becomes a case in `reported`, channel api, through the intake service.

    The key must be read + write and reach the building's community (else KeyRefused: 403, audited
    by the caller). The case creation itself is audited with the key that made it.
    """
    if not key.can_write:
        raise apikeys.KeyRefused("read_only", "api_key may only read; it cannot create requests", key)
    code = (fields.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code was not provided")
    category = service(code)
    building = locate(subdistrict, fields, max_distance_m)
    communities = apikeys.community_ids(key)
    if communities is not None and building.grid.community_id not in communities:
        raise apikeys.KeyRefused("community", "api_key may not create requests in this community", key)
    description = (fields.get("description") or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, "description may be at most 4,000 characters")
    media_url = _check_media_url(fields.get("media_url", ""))
    priority = (attributes_in.get("priority") or "").strip() or None
    if priority is not None and priority not in PRIORITIES:
        raise Open311Error(400, f"attribute[priority] must be one of {', '.join(PRIORITIES)}")
    unit = (attributes_in.get("unit") or "").strip()
    if len(unit) > 60:
        raise Open311Error(400, "attribute[unit] may be at most 60 characters")
    name = " ".join(x for x in ((fields.get("last_name") or "").strip(), (fields.get("first_name") or "").strip()) if x)
    try:
        case = intake.create_case(
            None, title=_title(description, category), description=description, category_id=category.id,
            building_id=building.id, unit=unit, priority=priority, channel="api", reporter_name=name[:60],
            reporter_phone=(fields.get("phone") or "").strip(), actor_label="resident")
    except Invalid as exc:
        problems = "; ".join(f"{FIELD_NAMES.get(k, k)}: {v}" for k, v in exc.errors.items())
        raise Open311Error(400, problems or str(exc.message)) from exc
    link = ApiRequest(case=case, api_key_id=key.id, token=secrets.token_hex(16), media_url=media_url,
                      account_id=(fields.get("account_id") or "").strip()[:120],
                      device_id=(fields.get("device_id") or "").strip()[:120], created_at=now())
    db.session.add(link)
    db.session.flush()
    audit.record("open311.create", obj=f"case:{case.number}", address=address,
                 details={"api_key": key.prefix, "service_code": category.code, "building": building.id})
    return case, link
