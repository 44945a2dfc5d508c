"""WeCom (企业微信) group robot: POST JSON to the webhook URL that carries `key=`; no signature.
Text or markdown; about 20 messages a minute per robot (the worker's token bucket keeps under it)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import WEBHOOK_URL, Field, HttpChannel, Outgoing, Result, vendor_code

# errcode 45009: the robot's per-minute limit was hit (treated like HTTP 429).
RATE_LIMITED = 45009


class WeComRobot(HttpChannel):
    kind = "wecom"
    label = _l("企业微信群机器人")
    fields = (WEBHOOK_URL, Field("msgtype", _l("消息格式（text 或 markdown）"), required=False, default="text"))

    def body(self, message: Outgoing) -> dict:
        p = message.payload
        if self.config.get("msgtype") == "markdown":
            lines = p.get("text", "").split("\n")
            link = p.get("link")
            head = f"**{lines[0]}**" if lines else ""
            rest = [line for line in lines[1:] if not (link and link in line)]
            tail = [f"[{p.get('title') or link}]({link})"] if link else []
            return {"msgtype": "markdown", "markdown": {"content": "\n".join([head, *rest, *tail])}}
        return {"msgtype": "text", "text": {"content": p.get("text", "")}}

    def send(self, message: Outgoing) -> Result:
        return self.post_json(self.config["webhook_url"], self.body(message), {"Idempotency-Key": message.key})

    def check_body(self, response, answer: str) -> Result:
        code = vendor_code(response, "errcode")
        if code == RATE_LIMITED:
            return Result(False, answer, retry_after=60)
        return Result(code == 0, answer)
