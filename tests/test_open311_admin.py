"""The admin's API-key page and the `casework api-key` commands: a key is shown once, stored hashed,
listed with scope, expiry and last use, revoked; only admins reach the page; everything audited."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import ApiKey, AuditEntry, Community
from casework.services import apikeys

KEY_RE = re.compile(r"cw311_[0-9a-f]{8}_[A-Za-z0-9_\-]{32}")


def _community(name):
    return db.session.scalars(select(Community).where(Community.name == name)).one()


def test_admin_issues_a_key_once_lists_and_revokes_it(login_as):
    admin = login_as("admin")
    page = admin.get("/admin/api-keys/")
    assert page.status_code == 200 and "接口密钥" in page.text and "还没有密钥" in page.text
    qingsong = _community("青松社区")
    answer = admin.post("/admin/api-keys/", {"name": "12345 热线", "communities": str(qingsong.id),
                                             "can_write": "1", "expires_at": "2027-06-30"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    shown = KEY_RE.findall(answer.text)
    assert len(shown) == 1
    key = db.session.scalars(select(ApiKey).where(ApiKey.name == "12345 热线")).one()
    assert key.key_hash == hashlib.sha256(shown[0].encode()).hexdigest() and shown[0] not in key.key_hash
    assert key.can_write and [c.name for c in key.communities] == ["青松社区"]
    assert key.expires_at.isoformat() == "2027-07-01T00:00:00"
    # Shown once: the list afterwards names the prefix, never the key.
    listing = admin.get("/admin/api-keys/").text
    assert key.prefix in listing and shown[0] not in listing and "青松社区" in listing and "从未使用" in listing
    assert apikeys.authenticate(shown[0]).id == key.id
    db.session.commit()
    listing = admin.get("/admin/api-keys/").text
    assert "从未使用" not in listing.split(f'id="api-key-{key.id}"')[1].split("</tr>")[0]

    revoked = admin.post(f"/admin/api-keys/{key.id}/revoke")
    assert revoked.status_code == 303
    db.session.refresh(key)
    assert key.revoked_at is not None
    assert "已吊销" in admin.get("/admin/api-keys/").text
    with pytest.raises(apikeys.KeyRefused) as refused:
        apikeys.authenticate(shown[0])
    assert refused.value.reason == "revoked"
    actions = [a for a, in db.session.execute(select(AuditEntry.action).where(AuditEntry.object == f"api_key:{key.prefix}"))]
    assert actions == ["apikey.issued", "apikey.revoked"]


def test_issuing_checks_the_form_and_keeps_what_was_typed(login_as):
    admin = login_as("admin")
    answer = admin.post("/admin/api-keys/", {"name": "城市App", "expires_at": "2020-01-01"})
    assert answer.status_code == 422
    assert "请选择该密钥可以访问的社区。" in answer.text and "到期日期必须晚于今天。" in answer.text
    assert 'value="城市App"' in answer.text and not KEY_RE.search(answer.text)
    assert db.session.scalars(select(ApiKey)).first() is None


def test_public_reads_switch(login_as):
    admin = login_as("admin")
    assert not apikeys.public_reads()
    assert admin.post("/admin/api-keys/public-reads", {"enabled": "1"}).status_code == 303
    assert apikeys.public_reads() and "关闭免密钥查询" in admin.get("/admin/api-keys/").text
    admin.post("/admin/api-keys/public-reads", {"enabled": "0"})
    assert not apikeys.public_reads()


@pytest.mark.parametrize("username", ["wangge01", "shequ01", "jiedao"])
def test_only_admins_reach_the_key_page(login_as, username):
    assert login_as(username).get("/admin/api-keys/").status_code == 404


def test_the_page_needs_csrf(login_as):
    admin = login_as("admin")
    assert admin.post("/admin/api-keys/", {"name": "x", "all_communities": "1"}, csrf=False).status_code == 400


def test_cli_creates_and_revokes(app, session):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["casework", "api-key", "create", "12345 溪畔", "--community", "溪畔社区",
                                  "--write", "--expires", "2027-01-31"])
    assert created.exit_code == 0, created.output
    plaintext = KEY_RE.search(created.output).group(0)
    key = apikeys.authenticate(plaintext)
    assert key.can_write and [c.name for c in key.communities] == ["溪畔社区"]
    listed = runner.invoke(args=["casework", "api-key", "list"])
    assert key.prefix in listed.output and "active" in listed.output and plaintext not in listed.output
    revoked = runner.invoke(args=["casework", "api-key", "revoke", key.prefix])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with pytest.raises(apikeys.KeyRefused):
        apikeys.authenticate(plaintext)
    assert runner.invoke(args=["casework", "api-key", "revoke", "nope"]).exit_code != 0
    assert runner.invoke(args=["casework", "api-key", "create", "x", "--community", "火星社区"]).exit_code != 0
