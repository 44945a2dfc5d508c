"""Generic webhook for the city's own systems: POST JSON, signed.

Headers: `Idempotency-Key` (the outbox key), `X-Casework-Timestamp` (seconds) and
`X-Casework-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + raw body)>`.
A payload with a "json" entry is sent as that object verbatim (Open311 pushes); otherwise the
notice itself ({"key", "kind", "title", "text", "link"})."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import SIGNING_SECRET, Field, HttpChannel, Outgoing, Result

SIGNATURE_HEADER = "X-Casework-Signature"
TIMESTAMP_HEADER = "X-Casework-Timestamp"


def signature(secret: str, timestamp: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


class Webhook(HttpChannel):
    kind = "webhook"
    label = _l("通用 Webhook")
    fields = (Field("url", _l("接收地址")), SIGNING_SECRET)

    def body(self, message: Outgoing) -> dict:
        p = message.payload
        if "json" in p:
            return p["json"]
        return {"key": message.key, "kind": message.kind, "title": p.get("title", ""),
                "text": p.get("text", ""), "link": p.get("link", "")}

    def send(self, message: Outgoing) -> Result:
        raw = json.dumps(self.body(message), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Idempotency-Key": message.key}
        if self.config.get("secret"):
            ts = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = ts
            headers[SIGNATURE_HEADER] = signature(self.config["secret"], ts, raw)
        return self.post_json(message.destination or self.config["url"], {}, headers, data=raw)
