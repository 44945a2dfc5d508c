"""SMS through an HTTP gateway. A provider plug-in is one small class overriding `request()`:

    class MyProvider(SmsGateway):
        kind = "sms"            # or register under its own kind
        def request(self, phone, text, key) -> tuple[str, dict, dict]:
            return url, headers, json_body

The default speaks a plain JSON gateway: POST {gateway_url} with `Authorization: Bearer {api_key}`,
`Idempotency-Key`, body {"phone", "sign_name", "template_id", "params": {"text"}}; 2xx with
{"code": 0} (or no code) is delivered."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from casework.services.notices.channels.base import Field, HttpChannel, Outgoing, Result, vendor_code

SMS_MAX = 300


class SmsGateway(HttpChannel):
    kind = "sms"
    label = _l("短信网关")
    personal = True
    fields = (Field("gateway_url", _l("网关地址")), Field("api_key", _l("接口密钥"), secret=True),
              Field("template_id", _l("模板编号")), Field("sign_name", _l("短信签名")))

    def request(self, phone: str, text: str, key: str) -> tuple[str, dict, dict]:
        body = {"phone": phone, "sign_name": self.config.get("sign_name", ""),
                "template_id": self.config.get("template_id", ""), "params": {"text": text[:SMS_MAX]}}
        headers = {"Authorization": f"Bearer {self.config.get('api_key', '')}", "Idempotency-Key": key}
        return self.config["gateway_url"], headers, body

    def send(self, message: Outgoing) -> Result:
        if not message.destination:
            return Result(False, "no mobile number")
        url, headers, body = self.request(message.destination, message.payload.get("text", ""), message.key)
        return self.post_json(url, body, headers)

    def check_body(self, response, answer: str) -> Result:
        code = vendor_code(response, "code")
        return Result(code in (None, 0), answer)
