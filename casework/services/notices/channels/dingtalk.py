"""DingTalk (钉钉) group robot with signing: `timestamp` (ms) and `sign` on the webhook URL, where
sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import (
    SIGNING_SECRET, WEBHOOK_URL, HttpChannel, Outgoing, Result, vendor_code,
)


def sign(secret: str, timestamp_ms: int) -> str:
    """The vendor's signature, URL-encoded, for `timestamp_ms`."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


class DingTalkRobot(HttpChannel):
    kind = "dingtalk"
    label = _l("钉钉群机器人")
    fields = (WEBHOOK_URL, SIGNING_SECRET)

    def send(self, message: Outgoing) -> Result:
        url = self.config["webhook_url"]
        if self.config.get("secret"):
            ts = int(time.time() * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign(self.config['secret'], ts)}"
        body = {"msgtype": "text", "text": {"content": message.payload.get("text", "")}}
        return self.post_json(url, body, {"Idempotency-Key": message.key})

    def check_body(self, response, answer: str) -> Result:
        return Result(vendor_code(response, "errcode") == 0, answer)
