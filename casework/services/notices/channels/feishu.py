"""Feishu / Lark (飞书) group robot with signing: `timestamp` (seconds) and `sign` in the JSON body,
where sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")) — the key is the string to
sign and the message is empty, unlike DingTalk."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import (
    SIGNING_SECRET, WEBHOOK_URL, HttpChannel, Outgoing, Result, vendor_code,
)


def sign(secret: str, timestamp: int) -> str:
    """The vendor's signature for `timestamp` (seconds)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuRobot(HttpChannel):
    kind = "feishu"
    label = _l("飞书群机器人")
    fields = (WEBHOOK_URL, SIGNING_SECRET)

    def send(self, message: Outgoing) -> Result:
        body: dict = {"msg_type": "text", "content": {"text": message.payload.get("text", "")}}
        if self.config.get("secret"):
            ts = int(time.time())
            body = {"timestamp": str(ts), "sign": sign(self.config["secret"], ts), **body}
        return self.post_json(self.config["webhook_url"], body, {"Idempotency-Key": message.key})

    def check_body(self, response, answer: str) -> Result:
        # Feishu answers {"code": 0, ...} (older robots: {"StatusCode": 0}).
        code = vendor_code(response, "code")
        if code is None:
            code = vendor_code(response, "StatusCode")
        return Result(code == 0, answer)
