"""Status back to the caller (#13): a key registers a webhook (address + signing secret, the secret shown
once and masked after); each status change of a case created through that key is pushed through the
outbox's signed generic webhook, as the same document GET requests/{id}.json answers. A real local
receiver checks the signature and the shape; another client's key hears nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import ApiKey, AuditEntry, Case, NoticeChannel, OutboxMessage
from casework.services import apikeys
from casework.services.notices.worker import Settings, Worker
from tests.case_steps import parse, seen_version, user
from tests.notice_receivers import Receiver

FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
          "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
          "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


@pytest.fixture
def receivers():
    made = []

    def make(secret: str) -> Receiver:
        r = Receiver("webhook", secret=secret)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def issue(name: str) -> tuple[ApiKey, str]:
    issued = apikeys.issue_key(None, name=name, community_ids=[], all_communities=True, can_write=True,
                               expires_at=None)
    db.session.commit()
    return issued.key, issued.plaintext


def register(admin, key: ApiKey, url: str, secret: str = ""):
    return admin.post(f"/admin/api-keys/{key.id}/webhook", {"webhook_url": url, "webhook_secret": secret})


def post_request(client, plaintext: str) -> Case:
    building = user("wangge01").grids[0].buildings[0]
    response = client.post("/open311/v2/requests.json", {
        "api_key": plaintext, "service_code": "facilities", "address_id": str(building.id),
        "description": "3单元楼道灯不亮 请联系赵女士", "first_name": "女士", "last_name": "赵",
        "phone": "13912345678"}, csrf=False)
    assert response.status_code == 200, response.text
    number = response.json[0]["service_request_id"]
    return db.session.scalars(select(Case).where(Case.number == number)).one()


def move(login_as, case: Case, event: str, data: dict | None = None, who: str = "wangge01") -> None:
    staff = login_as(who)
    page = staff.get(f"/cases/{case.id}").text
    response = staff.post(f"/cases/{case.id}/events/{event}",
                          {"version": seen_version(page, case.id), **(data or {})}, htmx=True)
    assert response.status_code == 200, response.text


def test_the_admin_registers_a_webhook_and_sees_the_secret_once(login_as, receivers):
    key, _ = issue("12345 热线")
    admin = login_as("admin")
    bad = register(admin, key, "ftp://example.cn/hook")
    assert bad.status_code == 422
    form = parse(bad.text).find("form", id=f"webhook-form-{key.id}")
    assert "http://" in form.text and form.find("input", name="webhook_url").get("value") == "ftp://example.cn/hook"
    assert db.session.get(ApiKey, key.id).webhook_channel_id is None

    answer = register(admin, key, "http://127.0.0.1:9/hook")
    assert answer.status_code == 200
    secret = parse(answer.text).find("div", id="webhook-secret").find("code").text
    db.session.expire_all()
    channel = db.session.get(ApiKey, key.id).webhook_channel
    assert channel.kind == "webhook" and channel.config == {"url": "http://127.0.0.1:9/hook", "secret": secret}
    later = admin.get("/admin/api-keys/").text
    assert secret not in later and "••••" + secret[-4:] in later
    # A new address with the secret left blank keeps the secret; an empty address removes the webhook.
    assert register(admin, key, "http://127.0.0.1:9/other").status_code == 303
    db.session.expire_all()
    assert channel.config == {"url": "http://127.0.0.1:9/other", "secret": secret}
    assert register(admin, key, "").status_code == 303
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).webhook_channel_id is None and channel.active is False
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "apikey.webhook")).all()
    assert len(actions) == 3
    assert login_as("wangge01").post(f"/admin/api-keys/{key.id}/webhook", {"webhook_url": ""}).status_code == 404


def test_status_changes_are_pushed_signed_in_georeport_shape(client, login_as, receivers):
    key, plaintext = issue("12345 热线")
    other, other_plain = issue("城市 App")
    mine, theirs = receivers("hotline-secret-0123456789"), receivers("city-app-secret-0123456789")
    admin = login_as("admin")
    assert register(admin, key, mine.url, mine.secret).status_code == 303
    assert register(admin, other, theirs.url, theirs.secret).status_code == 303

    case = post_request(client, plaintext)
    move(login_as, case, "sign")
    signed = client.get(f"/open311/v2/requests/{case.number}.json?api_key={plaintext}").json
    org = user("wangge01").grids[0].buildings[0].property_company
    move(login_as, case, "dispatch_handler", {"organisation": str(org.id)})
    handed = client.get(f"/open311/v2/requests/{case.number}.json?api_key={plaintext}").json

    stats = Worker(Settings(retry_base_seconds=30)).run_once()
    assert stats.delivered == 2
    assert mine.rejected == [] and len(mine.received) == 2  # both signatures checked by the receiver
    bodies = [r["body"] for r in mine.received]
    bodies.sort(key=lambda b: b[0]["updated_datetime"] + b[0]["status_notes"])
    assert {json.dumps(b, sort_keys=True) for b in bodies} == {json.dumps(signed, sort_keys=True),
                                                              json.dumps(handed, sort_keys=True)}
    for body in bodies:
        assert list(body[0]) == FIELDS
        assert body[0]["service_request_id"] == case.number
        assert body[0]["updated_datetime"].endswith("+08:00")
        raw = json.dumps(body, ensure_ascii=False)
        for private in ("赵", "13912345678", "楼道灯", case.tracking_code):
            assert private not in raw
    assert {b[0]["status_notes"] for b in bodies} == {"网格员已签收，正在研判如何处理。", "已交物业或社区合伙人办理。"}
    assert dict(mine.keys) == {f"open311:{case.id}:v2": 1, f"open311:{case.id}:v3": 1}  # one key per version
    assert theirs.received == [] and theirs.rejected == []  # another client's key hears nothing


def test_cases_of_other_channels_and_keys_without_webhook_push_nothing(client, login_as, make_case, receivers):
    key, plaintext = issue("无回调的系统")
    case = post_request(client, plaintext)
    phone_case = make_case()
    move(login_as, case, "sign")
    move(login_as, phone_case, "sign")
    assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "open311_status")).all() == []
    # A revoked key's webhook stops at once.
    hook = receivers("revoked-secret-0123456789")
    assert register(login_as("admin"), key, hook.url, hook.secret).status_code == 303
    apikeys.revoke_key(None, key.id)
    db.session.commit()
    move(login_as, case, "dispatch")
    assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "open311_status")).all() == []
    assert db.session.scalars(select(NoticeChannel).where(NoticeChannel.kind == "webhook")).all()
