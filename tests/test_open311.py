"""Open311 GeoReport v2 against a live server: the real app served by werkzeug in a thread on
127.0.0.1, called with urllib and read with xml.etree — every endpoint in XML and JSON, the spec's
wrappers and field names, dates with +08:00, filters and limits, every error, the keys, a PII scan
of every answer, and a POSTed case that lands on the grid board and whose later moves show in GET.

The server runs on its own database (a temporary SQLite file, and a fresh PostgreSQL database when
TEST_DATABASE_URL is set) because a live server commits for real, which the shared test database's
rolled-back transactions cannot hold.
"""
from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select

from casework.extensions import db, limiter
from casework.models import ApiKey, ApiRequest, AuditEntry, Building, Case, Community, Organisation, User
from casework.services import apikeys, transitions
from casework.services.demo import load_demo
from casework.timekeeping import now
from dbtools import BACKENDS, app_on, throwaway_database
from case_steps import csrf_token

V2 = "/open311/v2"
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|\d{3}\*{4}\d{4}")
OFFSET_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Live:
    """The running server, its app (for looking into the database) and every answer it gave."""

    def __init__(self, app, base: str, keys: dict[str, str]):
        self.app, self.base, self.keys = app, base, keys
        self.bodies: list[str] = []

    def call(self, path: str, params: dict | None = None, *, method: str = "GET", key: str | None = None,
             data: dict | None = None, headers: dict | None = None):
        """(status, headers, body text) of one HTTP call; `key` names one of the issued keys."""
        params = dict(params or {})
        if key is not None:
            params["api_key"] = self.keys.get(key, key)
        url = self.base + path
        body = None
        if method == "POST":
            body = urllib.parse.urlencode({**params, **(data or {})}).encode()
        elif params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                status, hdrs, text = resp.status, resp.headers, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            status, hdrs, text = exc.code, exc.headers, exc.read().decode("utf-8")
        self.bodies.append(text)
        return status, hdrs, text

    def xml(self, path, params=None, **kw):
        status, hdrs, text = self.call(path, params, **kw)
        assert hdrs["Content-Type"] == "text/xml; charset=utf-8", (status, text)
        assert text.startswith('<?xml version="1.0" encoding="utf-8"?>'), text[:80]
        return status, ET.fromstring(text.encode("utf-8")), hdrs

    def json(self, path, params=None, **kw):
        status, hdrs, text = self.call(path, params, **kw)
        assert hdrs["Content-Type"] == "application/json; charset=utf-8", (status, text)
        return status, json.loads(text), hdrs

    def db(self):
        """An app context for looking at (or arranging) the server's database."""
        return self.app.app_context()


def _community(name: str) -> Community:
    return db.session.scalars(select(Community).where(Community.name == name)).one()


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    """The app on http://127.0.0.1:<port> over its own database with the demo data and five keys."""
    from werkzeug.serving import make_server

    with throwaway_database(request.param, tmp_path_factory.mktemp("o311"), "o311") as url, \
            app_on(url, tmp_path_factory.mktemp("uploads"), TESTING=False) as app:
        keys = {}
        with app.app_context():
            db.create_all()
            load_demo(cases=120)
            qingsong = _community("青松社区")
            keys["rw_qingsong"] = apikeys.issue_key(None, name="12345 青松", community_ids=[qingsong.id],
                                                    all_communities=False, can_write=True, expires_at=None).plaintext
            keys["ro_all"] = apikeys.issue_key(None, name="城市App 只读", community_ids=[], all_communities=True,
                                               can_write=False, expires_at=None).plaintext
            keys["rw_all"] = apikeys.issue_key(None, name="12345 全街道", community_ids=[], all_communities=True,
                                               can_write=True, expires_at=now() + dt.timedelta(days=30)).plaintext
            revoked = apikeys.issue_key(None, name="旧系统", community_ids=[], all_communities=True, can_write=True,
                                        expires_at=None)
            apikeys.revoke_key(None, revoked.key.id)
            keys["revoked"] = revoked.plaintext
            expired = apikeys.issue_key(None, name="试点小程序", community_ids=[], all_communities=True,
                                        can_write=True, expires_at=now() + dt.timedelta(days=1))
            expired.key.expires_at = now() - dt.timedelta(minutes=1)
            keys["expired"] = expired.plaintext
            db.session.commit()
        port = _free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield Live(app, f"http://127.0.0.1:{port}", keys)
        server.shutdown()
        thread.join(timeout=5)


def _text(element, tag):
    child = element.find(tag)
    assert child is not None, f"<{tag}> missing in <{element.tag}>"
    return child.text


def _qingsong_building() -> Building:
    """A building in wangge01's grid (青松社区)."""
    wangge = db.session.scalars(select(User).where(User.username == "wangge01")).one()
    return wangge.grids[0].buildings[0]


def _xiapan_building() -> Building:
    from casework.models import Grid
    return db.session.scalars(select(Building).join(Grid).where(Grid.community_id == _community("溪畔社区").id)
                              .order_by(Building.id)).first()


# Discovery and services --------------------------------------------------------------------------

def test_discovery_in_both_formats(live):
    status, root, _ = live.xml(f"{V2}/discovery.xml")
    assert status == 200 and root.tag == "discovery"
    endpoint = root.find("endpoints/endpoint")
    assert _text(endpoint, "specification") == "http://wiki.open311.org/GeoReport_v2"
    assert _text(endpoint, "url") == f"{live.base}{V2}"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]
    for tag in ("changeset", "contact", "key_service"):
        assert root.find(tag) is not None
    status, doc, _ = live.json(f"{V2}/discovery.json")
    assert status == 200 and doc["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert doc["endpoints"][0]["type"] == "production"


def test_services_list_and_definition(live):
    status, root, _ = live.xml(f"{V2}/services.xml", key="ro_all")
    assert status == 200 and root.tag == "services"
    services = root.findall("service")
    assert len(services) >= 3
    first = services[0]
    assert [c.tag for c in first] == ["service_code", "service_name", "description", "metadata", "type",
                                      "keywords", "group"]
    assert _text(first, "metadata") == "true" and _text(first, "type") == "realtime"
    status, doc, _ = live.json(f"{V2}/services.json", key="ro_all")
    assert status == 200 and isinstance(doc, list) and doc[0]["service_code"] == _text(first, "service_code")
    assert doc[0]["metadata"] is True
    code = doc[0]["service_code"]

    status, root, _ = live.xml(f"{V2}/services/{code}.xml", key="ro_all")
    assert status == 200 and root.tag == "service_definition" and _text(root, "service_code") == code
    attrs = root.findall("attributes/attribute")
    assert [_text(a, "code") for a in attrs] == ["unit", "priority"]
    assert [c.tag for c in attrs[1]] == ["variable", "code", "datatype", "required", "datatype_description",
                                         "order", "description", "values"]
    assert _text(attrs[1], "datatype") == "singlevaluelist" and _text(attrs[1], "required") == "false"
    assert [_text(v, "key") for v in attrs[1].findall("values/value")] == ["normal", "urgent", "emergency"]
    status, doc, _ = live.json(f"{V2}/services/{code}.json", key="ro_all")
    assert doc["attributes"][1]["values"][1] == {"key": "urgent", "name": "紧急"}
    # English on request (Accept-Language), Chinese by default.
    status, doc, _ = live.json(f"{V2}/services.json", key="ro_all", headers={"Accept-Language": "en"})
    assert all(re.match(r"^[\x20-\x7e]+$", s["service_name"]) for s in doc)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_unknown_things_are_spec_404s(live, fmt):
    for path in (f"{V2}/services/no_such.{fmt}", f"{V2}/requests/XX-0.{fmt}", f"{V2}/tokens/nope.{fmt}",
                 f"{V2}/nothing_here.{fmt}"):
        status, hdrs, text = live.call(path, key="ro_all")
        assert status == 404, path
        _assert_error(fmt, text, 404)
    status, hdrs, text = live.call(f"{V2}/services.{fmt}", {"jurisdiction_id": "another.city"}, key="ro_all")
    assert status == 404 and "jurisdiction_id" in _error_description(fmt, text)


def _assert_error(fmt: str, text: str, code: int) -> str:
    if fmt == "xml":
        root = ET.fromstring(text.encode())
        assert root.tag == "errors"
        error = root.find("error")
        assert _text(error, "code") == str(code)
        return _text(error, "description")
    doc = json.loads(text)
    assert isinstance(doc, list) and doc[0]["code"] == code and doc[0]["description"]
    return doc[0]["description"]


def _error_description(fmt: str, text: str) -> str:
    if fmt == "xml":
        return ET.fromstring(text.encode()).find("error/description").text
    return json.loads(text)[0]["description"]


# Reading requests -------------------------------------------------------------------------------

def test_requests_list_shape_dates_and_default_window(live):
    status, root, _ = live.xml(f"{V2}/requests.xml", key="ro_all")
    assert status == 200 and root.tag == "service_requests"
    requests = root.findall("request")
    with live.db():
        since = now() - dt.timedelta(days=90)
        expected = db.session.scalar(select(func.count()).select_from(Case).where(Case.created_at >= since))
    assert len(requests) == min(expected, 1000) and expected > 0
    first = requests[0]
    assert [c.tag for c in first] == REQUEST_FIELDS
    assert _text(first, "status") in ("open", "closed")
    for tag in ("requested_datetime", "updated_datetime"):
        assert OFFSET_RE.match(_text(first, tag)), _text(first, tag)
    times = [_text(r, "requested_datetime") for r in requests]
    assert times == sorted(times, reverse=True)  # newest first
    status, doc, _ = live.json(f"{V2}/requests.json", key="ro_all")
    assert [r["service_request_id"] for r in doc] == [_text(r, "service_request_id") for r in requests]
    assert list(doc[0]) == REQUEST_FIELDS
    with live.db():
        case = db.session.scalars(select(Case).where(Case.number == doc[0]["service_request_id"])).one()
        assert doc[0]["requested_datetime"] == case.created_at.replace(microsecond=0).isoformat() + "+08:00"
        assert doc[0]["service_code"] == case.category.code
        if case.due_at:
            assert doc[0]["expected_datetime"] == case.due_at.replace(microsecond=0).isoformat() + "+08:00"
        wanted = case.assigned_org.name if case.assigned_org else case.community.name
        assert doc[0]["agency_responsible"] == wanted
        assert doc[0]["address_id"] == str(case.building_id)
        assert doc[0]["description"] is None and doc[0]["service_notice"] is None


def test_requests_filters_and_paging(live):
    status, everything, _ = live.json(f"{V2}/requests.json", key="ro_all")
    closed = [r for r in everything if r["status"] == "closed"]
    opened = [r for r in everything if r["status"] == "open"]
    assert closed and opened
    _, only_closed, _ = live.json(f"{V2}/requests.json", {"status": "closed"}, key="ro_all")
    assert [r["service_request_id"] for r in only_closed] == [r["service_request_id"] for r in closed]
    _, only_open, _ = live.json(f"{V2}/requests.json", {"status": "open"}, key="ro_all")
    assert len(only_open) == len(opened)
    _, both, _ = live.json(f"{V2}/requests.json", {"status": "open,closed"}, key="ro_all")
    assert len(both) == len(everything)

    code = everything[0]["service_code"]
    _, by_code, _ = live.json(f"{V2}/requests.json", {"service_code": code}, key="ro_all")
    assert by_code and {r["service_code"] for r in by_code} == {code}
    assert len(by_code) == sum(1 for r in everything if r["service_code"] == code)

    ids = [everything[3]["service_request_id"], everything[1]["service_request_id"]]
    # An id list overrides every other filter (the spec), here a status that matches neither.
    _, by_id, _ = live.json(f"{V2}/requests.json", {"service_request_id": ",".join(ids), "status": "closed"
                                                    if everything[1]["status"] == "open" else "open"},
                            key="ro_all")
    assert sorted(r["service_request_id"] for r in by_id) == sorted(ids)

    newest = dt.datetime.fromisoformat(everything[0]["requested_datetime"])
    start = (newest - dt.timedelta(days=2)).isoformat()
    _, window, _ = live.json(f"{V2}/requests.json", {"start_date": start, "end_date": newest.isoformat()},
                             key="ro_all")
    assert window and all(start <= r["requested_datetime"] <= newest.isoformat() for r in window)
    assert len(window) == sum(1 for r in everything if start <= r["requested_datetime"] <= newest.isoformat())
    # The same instant written in UTC selects the same requests.
    utc = (newest - dt.timedelta(days=2)).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    _, same, _ = live.json(f"{V2}/requests.json", {"start_date": utc, "end_date": newest.isoformat()}, key="ro_all")
    assert len(same) == len(window)

    # Paging extension: page_size and page walk the same list.
    _, page1, _ = live.json(f"{V2}/requests.json", {"page_size": 5}, key="ro_all")
    _, page2, _ = live.json(f"{V2}/requests.json", {"page_size": 5, "page": 2}, key="ro_all")
    assert [r["service_request_id"] for r in page1 + page2] == [r["service_request_id"] for r in everything[:10]]
    _, capped, _ = live.json(f"{V2}/requests.json", {"page_size": 5000}, key="ro_all")
    assert len(capped) == len(everything)  # at most 1,000 whatever is asked


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize("params,needle", [
    ({"status": "pending"}, "status"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"}, "90 days"),
    ({"start_date": "2026-06-01T00:00:00+08:00", "end_date": "2026-01-01T00:00:00+08:00"}, "before"),
    ({"page": "0"}, "page"),
])
def test_bad_filters_are_400(live, fmt, params, needle):
    status, _, text = live.call(f"{V2}/requests.{fmt}", params, key="ro_all")
    assert status == 400
    assert needle in _assert_error(fmt, text, 400)


def test_one_request_by_id_in_both_formats(live):
    _, doc, _ = live.json(f"{V2}/requests.json", key="ro_all")
    number = doc[0]["service_request_id"]
    status, root, _ = live.xml(f"{V2}/requests/{number}.xml", key="ro_all")
    assert status == 200 and root.tag == "service_requests" and len(root.findall("request")) == 1
    assert _text(root.find("request"), "service_request_id") == number
    status, one, _ = live.json(f"{V2}/requests/{number}.json", key="ro_all")
    assert status == 200 and one == [doc[0]]


# Keys ----------------------------------------------------------------------------------------------

def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize("key,reason", [(None, "missing"), ("cw311_deadbeef_notarealsecret", "invalid"),
                                        ("revoked", "revoked"), ("expired", "expired")])
def test_refused_keys_are_403_and_audited(live, fmt, key, reason):
    with live.db():
        before = len(_audit("apikey.refused"))
    for path in (f"{V2}/requests.{fmt}", f"{V2}/services.{fmt}"):
        status, _, text = live.call(path, key=key)
        assert status == 403
        _assert_error(fmt, text, 403)
    status, _, text = live.call(f"{V2}/requests.{fmt}", method="POST", key=key,
                                data={"service_code": "facilities", "address_id": "1"})
    assert status == 403
    with live.db():
        rows = _audit("apikey.refused")[before:]
        assert [json.loads(r.details)["reason"] for r in rows] == [reason] * 3
        assert all(r.outcome == "refused" for r in rows)
        # The audit names a key by its prefix only, never the secret.
        assert all("notarealsecret" not in r.details + r.object for r in rows)


def test_a_key_reads_only_its_communities(live):
    _, mine, _ = live.json(f"{V2}/requests.json", key="rw_qingsong")
    _, everything, _ = live.json(f"{V2}/requests.json", key="ro_all")
    with live.db():
        qingsong = {c.number for c in db.session.scalars(select(Case).where(
            Case.community_id == _community("青松社区").id))}
    assert mine and {r["service_request_id"] for r in mine} <= qingsong
    elsewhere = [r for r in everything if r["service_request_id"] not in qingsong]
    assert elsewhere
    status, _, text = live.call(f"{V2}/requests/{elsewhere[0]['service_request_id']}.json", key="rw_qingsong")
    assert status == 404
    _, listed, _ = live.json(f"{V2}/requests.json", {"service_request_id": elsewhere[0]["service_request_id"]},
                             key="rw_qingsong")
    assert listed == []


def test_public_reads_only_when_the_admin_turns_them_on(live):
    status, _, _ = live.call(f"{V2}/requests.json")
    assert status == 403
    with live.db():
        apikeys.set_public_reads(None, True)
        db.session.commit()
    try:
        status, doc, _ = live.json(f"{V2}/requests.json")
        assert status == 200 and doc
        status, _, _ = live.call(f"{V2}/services.xml")
        assert status == 200
        # Writing still needs a key, and a wrong key is still refused.
        status, _, _ = live.call(f"{V2}/requests.json", method="POST", data={"service_code": "facilities"})
        assert status == 403
        status, _, _ = live.call(f"{V2}/requests.json", key="cw311_00000000_wrong")
        assert status == 403
    finally:
        with live.db():
            apikeys.set_public_reads(None, False)
            db.session.commit()


# Creating requests --------------------------------------------------------------------------------

def _post(live, fmt="json", key="rw_qingsong", **data):
    return live.call(f"{V2}/requests.{fmt}", method="POST", key=key, data=data)


def test_post_creates_a_case_on_the_grid_board_and_its_moves_show(live):
    with live.db():
        building = _qingsong_building()
        address, building_id = building.address, building.id
    status, hdrs, text = _post(live, "xml", service_code="facilities", address_string=address,
                               description="3单元楼道灯不亮\n晚上很黑", first_name="女士", last_name="赵",
                               phone="13912345678", media_url="https://img.example.cn/a.jpg",
                               account_id="hotline-778", device_id="dev-1", **{"attribute[unit]": "3单元",
                                                                             "attribute[priority]": "urgent"})
    assert status == 200, text
    root = ET.fromstring(text.encode())
    assert root.tag == "service_requests"
    req = root.find("request")
    number = _text(req, "service_request_id")
    notice = _text(req, "service_notice")
    assert _text(req, "account_id") == "hotline-778"
    with live.db():
        case = db.session.scalars(select(Case).where(Case.number == number)).one()
        assert (case.channel, case.status, case.building_id, case.unit, case.priority) == \
            ("api", "reported", building_id, "3单元", "urgent")
        assert case.title == "3单元楼道灯不亮" and case.reporter_phone == "13912345678"
        assert case.reporter_name == "赵 女士"
        link = db.session.scalars(select(ApiRequest).where(ApiRequest.case_id == case.id)).one()
        assert link.media_url == "https://img.example.cn/a.jpg" and link.api_key.name == "12345 青松"
        assert notice == f"{live.base}/track/{case.tracking_code}"
        assert number != case.tracking_code
        created = [json.loads(r.details) for r in _audit("open311.create") if r.object == f"case:{number}"]
        assert created and created[0]["api_key"] == link.api_key.prefix
        token = link.token
        case_id = case.id

    # The tracking link works for the resident.
    status, _, page = live.call(f"/track/{notice.rsplit('/', 1)[1]}")
    assert status == 200 and number in page or "楼道灯" in page

    # The grid staff of that building sees it on their board.
    board = _board_html(live, "wangge01")
    assert f'id="card-{case_id}"' in board and number in board
    assert f'id="card-{case_id}"' not in _board_html(live, "wangge02")

    status, doc, _ = live.json(f"{V2}/requests/{number}.json", key="rw_qingsong")
    assert doc[0]["status"] == "open" and doc[0]["status_notes"] == "已收到您的反映，等待网格员签收。"
    assert doc[0]["media_url"] == "https://img.example.cn/a.jpg"
    assert doc[0]["description"] is None
    status, tok, _ = live.json(f"{V2}/tokens/{token}.json", key="rw_qingsong")
    assert tok == [{"service_request_id": number, "token": token}]
    status, root, _ = live.xml(f"{V2}/tokens/{token}.xml", key="rw_qingsong")
    assert _text(root.find("request"), "service_request_id") == number

    with live.db():
        case = db.session.get(Case, case_id)
        wangge = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        transitions.fire(wangge, case, "sign", version=case.version)
        db.session.commit()
        signed_at = case.updated_at
    status, doc, _ = live.json(f"{V2}/requests/{number}.json", key="rw_qingsong")
    assert doc[0]["status"] == "open" and doc[0]["status_notes"] == "网格员已签收，正在研判如何处理。"
    assert doc[0]["updated_datetime"] == signed_at.isoformat() + "+08:00"
    with live.db():
        case = db.session.get(Case, case_id)
        wangge = db.session.scalars(select(User).where(User.username == "wangge01")).one()
        org = db.session.scalars(select(Organisation).where(Organisation.name.contains("万家"))).one()
        transitions.fire(wangge, case, "dispatch_handler", {"organisation": org.id}, version=case.version)
        db.session.commit()
    status, doc, _ = live.json(f"{V2}/requests/{number}.json", key="rw_qingsong")
    assert doc[0]["agency_responsible"] == "万家物业服务有限公司" and doc[0]["status_notes"] == "已交物业或社区合伙人办理。"
    # The same case in the list, and none of the resident's details anywhere.
    _, listed, _ = live.json(f"{V2}/requests.json", {"service_request_id": number}, key="ro_all")
    assert listed == doc
    for body in (json.dumps(doc, ensure_ascii=False), text):
        assert "赵" not in body and "13912345678" not in body and "晚上很黑" not in body


def _board_html(live, username: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(live.base + "/login").read().decode()
    token = csrf_token(page)
    opener.open(live.base + "/login", urllib.parse.urlencode(
        {"username": username, "password": "demo", "csrf_token": token}).encode())
    return opener.open(live.base + "/board/").read().decode()


def test_post_by_address_id_and_by_lat_long(live):
    with live.db():
        building = _qingsong_building()
        others = db.session.scalars(select(Building).where(Building.id != building.id).limit(3)).all()
        building.latitude, building.longitude = 30.2741, 120.1551
        for i, other in enumerate(others):
            other.latitude, other.longitude = 30.2741 + 0.01 * (i + 1), 120.1551
        db.session.commit()
        building_id = building.id
    try:
        status, _, text = _post(live, service_code="facilities", lat="30.2745", long="120.1553",
                                description="路灯坏了")
        assert status == 200, text
        number = json.loads(text)[0]["service_request_id"]
        status, _, text = _post(live, service_code="facilities", address_id=str(building_id), description="井盖松动")
        assert status == 200, text
        by_id = json.loads(text)[0]["service_request_id"]
        with live.db():
            cases = {c.number: c for c in db.session.scalars(select(Case).where(Case.number.in_([number, by_id])))}
            assert cases[number].building_id == building_id and cases[by_id].building_id == building_id
        _, doc, _ = live.json(f"{V2}/requests/{number}.json", key="rw_qingsong")
        assert (doc[0]["lat"], doc[0]["long"]) == (30.2741, 120.1551)
        # Far from every building: an error, never a guess.
        status, _, text = _post(live, service_code="facilities", lat="31.0", long="121.0")
        assert status == 400 and "no building within" in _assert_error("json", text, 400)
    finally:
        with live.db():
            for b in db.session.scalars(select(Building).where(Building.latitude.is_not(None))):
                b.latitude = b.longitude = None
            db.session.commit()


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize("data,status,needle", [
    ({"address_id": "1"}, 400, "service_code was not provided"),
    ({"service_code": "no_such", "address_id": "1"}, 404, "service_code"),
    ({"service_code": "facilities"}, 400, "location is required"),
    ({"service_code": "facilities", "address_string": "火星路1号"}, 400, "did not match"),
    ({"service_code": "facilities", "address_id": "999999"}, 400, "address_id"),
    ({"service_code": "facilities", "lat": "abc", "long": "1"}, 400, "decimal degrees"),
    ({"service_code": "facilities", "address_id": "1", "phone": "12345"}, 400, "phone"),
    ({"service_code": "facilities", "address_id": "1", "media_url": "file:///etc/passwd"}, 400, "media_url"),
    ({"service_code": "facilities", "address_id": "1", "attribute[priority]": "asap"}, 400, "priority"),
    ({"service_code": "facilities", "address_id": "1", "description": "长" * 4001}, 400, "4,000"),
])
def test_bad_posts_are_spec_errors_and_write_nothing(live, fmt, data, status, needle):
    with live.db():
        before = db.session.scalar(select(func.count()).select_from(Case))
    got, _, text = _post(live, fmt, key="rw_all", **data)
    assert got == status, text
    assert needle in _assert_error(fmt, text, status)
    with live.db():
        assert db.session.scalar(select(func.count()).select_from(Case)) == before


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_read_only_and_wrong_community_keys_cannot_post(live, fmt):
    with live.db():
        xiapan = _xiapan_building().id
        qingsong = _qingsong_building().id
        before = db.session.scalar(select(func.count()).select_from(Case))
        refused_before = len(_audit("apikey.refused"))
    status, _, text = _post(live, fmt, key="ro_all", service_code="facilities", address_id=str(qingsong))
    assert status == 403 and "read" in _assert_error(fmt, text, 403)
    status, _, text = _post(live, fmt, key="rw_qingsong", service_code="facilities", address_id=str(xiapan))
    assert status == 403 and "community" in _assert_error(fmt, text, 403)
    with live.db():
        assert db.session.scalar(select(func.count()).select_from(Case)) == before
        reasons = [json.loads(r.details)["reason"] for r in _audit("apikey.refused")[refused_before:]]
        assert reasons == ["read_only", "community"]


def test_last_used_time_is_kept(live):
    with live.db():
        key = db.session.scalars(select(ApiKey).where(ApiKey.name == "城市App 只读")).one()
        key.last_used_at = None
        db.session.commit()
    live.call(f"{V2}/services.json", key="ro_all")
    with live.db():
        key = db.session.scalars(select(ApiKey).where(ApiKey.name == "城市App 只读")).one()
        assert key.last_used_at == now()


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_rate_limit_per_key_with_retry_after(live, storage):
    redis_url = os.environ.get("TEST_REDIS_URL")
    if storage == "redis" and not redis_url:
        pytest.skip("TEST_REDIS_URL not set")
    app = live.app
    saved = {k: app.config[k] for k in ("OPEN311_RATELIMIT", "RATELIMIT_STORAGE_URI")}
    app.config["OPEN311_RATELIMIT"] = "3 per minute"
    if storage == "redis":
        app.config["RATELIMIT_STORAGE_URI"] = redis_url
        limiter.init_app(app)
    with app.app_context():
        limiter.reset()
    try:
        for _ in range(3):
            assert live.call(f"{V2}/services.json", key="ro_all")[0] == 200
        for fmt in ("json", "xml"):
            status, hdrs, text = live.call(f"{V2}/services.{fmt}", key="ro_all")
            assert status == 429
            assert 1 <= int(hdrs["Retry-After"]) <= 61
            _assert_error(fmt, text, 429)
        # Another key has its own budget.
        assert live.call(f"{V2}/services.json", key="rw_all")[0] == 200
    finally:
        with app.app_context():
            limiter.reset()
        app.config.update(saved)
        limiter.init_app(app)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_library_reads_it(live, fmt):
    """PyPI's `georeport` (requests + xmltodict) as a city app would use it. It sends no api_key on
    reads, so it works once the admin turns public reads on (docs/open311.md)."""
    from georeport import GeoReport

    client = GeoReport(f"{live.base}{V2}", jurisdiction="松溪街道", output_format=fmt)
    with live.db():
        apikeys.set_public_reads(None, True)
        db.session.commit()
    try:
        services = client.get_service_list()
        assert [s["service_code"] for s in services][:1] == ["facilities"] or services
        definition = client.get_service_definition(services[0]["service_code"])
        assert definition["service_code"] == services[0]["service_code"]
        requests = client.get_service_requests(status="open")
        assert requests and all(r["status"] == "open" for r in requests)
        one = client.get_service_request(requests[0]["service_request_id"])
        assert one["service_request_id"] == requests[0]["service_request_id"]
        assert one["requested_datetime"].endswith("+08:00")
    finally:
        with live.db():
            apikeys.set_public_reads(None, False)
            db.session.commit()


def test_an_individual_partner_is_not_named():
    """agency_responsible names an organisation; an individual partner (a person) is never named."""
    from types import SimpleNamespace

    from casework.services.open311 import public_request
    row = SimpleNamespace(number="SX-2026-000001", status="handling", resolution=None, created_at=None,
                          updated_at=None, due_at=None, code="facilities", name_zh="公共设施", name_en="Facilities",
                          org_name="张师傅", org_kind="individual", community_name="青松社区", building_id=1,
                          address="松溪路101号", building_name="青松苑1幢", lat=None, long=None, id=1)
    assert public_request(row, "zh_Hans_CN", {"handling": "x"})["agency_responsible"] == "青松社区"
    row.org_kind, row.org_name = "property", "万家物业服务有限公司"
    assert public_request(row, "zh_Hans_CN", {"handling": "x"})["agency_responsible"] == "万家物业服务有限公司"


def test_no_personal_data_in_any_answer(live):
    """Runs last in the module: every body the server gave in these tests, scanned."""
    with live.db():
        names = {n for n in db.session.scalars(select(Case.reporter_name)) if n}
        staff = {u.display_name for u in db.session.scalars(select(User))}
        codes = {c for c in db.session.scalars(select(Case.tracking_code)) if c}
        token = db.session.scalars(select(ApiRequest.token)).first()
        building = _qingsong_building().address
    # Every endpoint once more in both formats (the earlier tests' answers are scanned as well).
    for fmt in ("xml", "json"):
        live.call(f"{V2}/discovery.{fmt}")
        live.call(f"{V2}/services.{fmt}", key="ro_all")
        live.call(f"{V2}/services/facilities.{fmt}", key="ro_all")
        status, _, text = live.call(f"{V2}/requests.{fmt}", key="ro_all")
        assert status == 200
        first = re.search(r"SX-\d{4}-\d{6}", text).group(0)
        live.call(f"{V2}/requests.{fmt}", {"status": "closed"}, key="ro_all")
        live.call(f"{V2}/requests/{first}.{fmt}", key="ro_all")
        live.call(f"{V2}/tokens/{token}.{fmt}" if token else f"{V2}/tokens/x.{fmt}", key="rw_all")
        live.call(f"{V2}/requests.{fmt}", method="POST", key="rw_qingsong",
                  data={"service_code": "facilities", "address_string": building, "description": "垃圾没人收",
                        "first_name": "先生", "last_name": "钱", "phone": "13700001111"})
        live.call(f"{V2}/requests.{fmt}", method="POST", key="rw_qingsong",
                  data={"service_code": "facilities", "phone": "13700001111"})
    with live.db():
        names = {n for n in db.session.scalars(select(Case.reporter_name)) if n}
    api_bodies = [b for b in live.bodies if b.startswith("<?xml") or b.startswith("[") or b.startswith("{")]
    assert len(api_bodies) >= 18 and "钱 先生" in names
    for body in api_bodies:
        assert not PHONE_RE.search(body), PHONE_RE.search(body).group(0)
        for name in names | staff:
            assert name not in body, name
        # A tracking code only ever appears in the creating caller's service_notice.
        for code in codes:
            if code in body:
                assert f"/track/{code}" in body and "<service_notice>" in body or '"service_notice"' in body
