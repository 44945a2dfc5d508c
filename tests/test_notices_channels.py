"""Each channel end to end (outbox → worker → a real local receiver) with the vendor's signature checked
by the receiver as the vendor documents it; a wrong secret is refused and retried, never 'delivered'.
E-mail goes to a real aiosmtpd server over STARTTLS with a certificate made for the test."""
from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess

import pytest
from sqlalchemy import select

from casework.extensions import db
from casework.models import Building, NoticeChannel, OutboxMessage
from casework.services.notices import routing
from casework.services.notices.content import NoticeFacts, render
from casework.services.notices.outbox import enqueue
from casework.services.notices.worker import Settings, Worker
from tests.notice_receivers import Receiver


@pytest.fixture
def receiver():
    made = []

    def make(kind, **kw):
        r = Receiver(kind, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def channel(kind: str, config: dict, **kw) -> NoticeChannel:
    ch = NoticeChannel(name=f"{kind} 测试", kind=kind, config=config, rate_per_minute=600, max_attempts=3, **kw)
    db.session.add(ch)
    db.session.flush()
    return ch


def send_one(ch: NoticeChannel, payload: dict | None = None, **kw) -> OutboxMessage:
    msg = enqueue(ch, payload or {"title": "【催办】SX-2026-000001", "text": "【催办】SX-2026-000001 设施\n请处理",
                                  "link": "http://casework.local/cases/1"}, key=f"t:{ch.id}", **kw)
    db.session.commit()
    Worker(Settings(retry_base_seconds=30)).run_once()
    db.session.expire_all()
    return msg


@pytest.mark.parametrize("msgtype", ["text", "markdown"])
def test_wecom_robot(session, receiver, msgtype):
    r = receiver("wecom", key="693a91f6-7xxx")
    msg = send_one(channel("wecom", {"webhook_url": r.url, "msgtype": msgtype}))
    assert msg.status == "delivered", msg.last_answer
    body = r.received[0]["body"]
    assert body["msgtype"] == msgtype
    content = body[msgtype]["content"]
    assert "SX-2026-000001" in content
    if msgtype == "markdown":
        assert "[【催办】SX-2026-000001](http://casework.local/cases/1)" in content


def test_wecom_wrong_key_is_not_delivered(session, receiver):
    r = receiver("wecom", key="right")
    msg = send_one(channel("wecom", {"webhook_url": r.url.replace("key=right", "key=wrong")}))
    assert (msg.status, msg.attempts) == ("pending", 1)
    assert "93000" in msg.last_answer and "invalid webhook key" in msg.last_answer


def test_dingtalk_signed_robot(session, receiver):
    r = receiver("dingtalk", key="tok123", secret="SEC0123456789abcdef+/=")
    msg = send_one(channel("dingtalk", {"webhook_url": r.url, "secret": r.secret}))
    assert msg.status == "delivered", msg.last_answer
    assert r.rejected == []
    assert r.received[0]["body"]["text"]["content"].startswith("【催办】")
    assert len(r.received[0]["query"]["timestamp"][0]) == 13  # milliseconds


def test_dingtalk_wrong_secret_is_refused(session, receiver):
    r = receiver("dingtalk", key="tok123", secret="SECright")
    msg = send_one(channel("dingtalk", {"webhook_url": r.url, "secret": "SECwrong"}))
    assert msg.status == "pending" and "sign not match" in msg.last_answer
    assert r.received == [] and r.rejected == ["sign not match"]


def test_feishu_signed_robot(session, receiver):
    r = receiver("feishu", key="hook-uuid", secret="feishu-secret")
    msg = send_one(channel("feishu", {"webhook_url": r.url, "secret": r.secret}))
    assert msg.status == "delivered", msg.last_answer
    body = r.received[0]["body"]
    assert body["msg_type"] == "text" and len(body["timestamp"]) == 10  # seconds


def test_feishu_wrong_secret_is_refused(session, receiver):
    r = receiver("feishu", key="hook-uuid", secret="right")
    msg = send_one(channel("feishu", {"webhook_url": r.url, "secret": "wrong"}))
    assert msg.status == "pending" and "19021" in msg.last_answer


def test_webhook_sends_open311_shape_verbatim_and_signed(session, receiver):
    r = receiver("webhook", secret="city-secret")
    ch = channel("webhook", {"url": r.url, "secret": r.secret})
    request = {"service_request_id": "SX-2026-000001", "status": "open", "service_code": "facilities",
               "updated_datetime": "2026-12-02T10:30:00+08:00"}
    msg = send_one(ch, {"json": request})
    assert msg.status == "delivered", msg.last_answer
    assert r.received[0]["body"] == request
    assert r.keys == {msg.key: 1}


def test_webhook_bad_signature_is_refused(session, receiver):
    r = receiver("webhook", secret="city-secret")
    msg = send_one(channel("webhook", {"url": r.url, "secret": "other"}))
    assert msg.status == "pending" and "HTTP 401" in msg.last_answer


def test_sms_gateway(session, receiver):
    r = receiver("sms", secret="api-key")
    ch = channel("sms", {"gateway_url": r.url, "api_key": "api-key", "template_id": "SMS_1", "sign_name": "某街道"})
    msg = send_one(ch, destination="13900001111")
    assert msg.status == "delivered", msg.last_answer
    body = r.received[0]["body"]
    assert (body["phone"], body["template_id"], body["sign_name"]) == ("13900001111", "SMS_1", "某街道")


# ---- e-mail over STARTTLS ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd on 127.0.0.1 requiring STARTTLS, with a self-signed certificate made for the test."""
    from aiosmtpd.controller import Controller
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    class Sink:
        def __init__(self):
            self.mails = []

        async def handle_DATA(self, server, session, envelope):
            self.mails.append((envelope.rcpt_tos, envelope.original_content or envelope.content, session.ssl))
            return "250 OK"

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True)
    controller.start()
    sink.port, sink.cafile = controller.port, str(cert)
    yield sink
    controller.stop()


def test_email_over_starttls_with_chinese_subject_text_and_html(session, smtp_server):
    ch = channel("smtp", {"host": "127.0.0.1", "port": str(smtp_server.port), "sender": "notices@jiedao.gov.cn",
                          "starttls": "1", "ca_file": smtp_server.cafile})
    msg = send_one(ch, {"title": "【催办】SX-2026-000001 路灯不亮", "text": "已超时，请尽快办理。\n详情：http://x/cases/1",
                        "link": "http://x/cases/1"}, destination="wang@example.cn")
    assert msg.status == "delivered", msg.last_answer
    (rcpt, raw, tls), = smtp_server.mails
    assert rcpt == ["wang@example.cn"] and tls  # the session was encrypted
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0].lower()  # the Chinese subject is RFC 2047-encoded
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "【催办】SX-2026-000001 路灯不亮"
    assert mail.get_body(("plain",)).get_content().startswith("已超时")
    assert '<a href="http://x/cases/1">' in mail.get_body(("html",)).get_content()


def test_email_refuses_an_untrusted_certificate(session, smtp_server):
    ch = channel("smtp", {"host": "127.0.0.1", "port": str(smtp_server.port), "sender": "n@jiedao.gov.cn"})
    msg = send_one(ch, destination="wang@example.cn")
    assert msg.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in msg.last_answer
    assert smtp_server.mails == []


# ---- what the messages say ---------------------------------------------------------------------------------

PHONE_PATTERNS = [r"1[3-9]\d{9}", r"\d{3,4}-\d{7,8}", r"\d{7,}"]


def test_no_rendered_message_carries_a_phone_or_the_resident(session, receiver, make_case):
    import re
    b = db.session.scalars(select(Building).order_by(Building.id)).first()
    case = make_case(b, title="张三 13912345678 家门口路灯坏了", phone="13912345678")
    assert case.reporter_phone == "13912345678"
    # Even a building whose name carries a number is masked.
    b.name = "3号楼（物业电话 021-62345678）"
    db.session.flush()
    facts = NoticeFacts.of(case)
    rendered = [render(kind, facts, lang, decision="approved") for kind in routing.LADDER_SCOPES | {
        "new_case": 0, "handoff": 0, "handoff_org": 0, "returned": 0, "reopened": 0, "callback": 0,
        "rerouted": 0, "arbitration": 0, "arbitrated": 0,
        "extension_decided": 0, "resident_photos": 0} for lang in ("zh_Hans_CN", "en")]
    for payload in rendered:
        for part in (payload["title"], payload["text"]):
            for pattern in PHONE_PATTERNS:
                assert not re.search(pattern, part), (pattern, part)
            assert "张三" not in part and "王女士" not in part and "路灯坏了" not in part
        assert case.number in payload["text"] and payload["link"].endswith(f"/cases/{case.id}")
    zh = render("urge", facts)
    assert "催办" in zh["text"] and case.category.name_zh in zh["text"]
    en = render("urge", facts, "en")
    assert case.category.name_en in en["text"]
