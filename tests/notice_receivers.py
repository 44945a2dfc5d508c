"""Real local receivers on 127.0.0.1 standing in for the vendors' robots, a webhook consumer and an SMS
gateway. Each verifies the signature exactly as the vendor documents it (written here independently of
casework's channel code), records what it received, and can be told to fail: answer 500, rate-limit
(429), or be slow (time out)."""
from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """One HTTP receiver of `kind` (wecom, dingtalk, feishu, webhook, sms) on a free local port."""

    def __init__(self, kind: str, *, secret: str = "", key: str = "", mode: str = "ok", delay: float = 0.0):
        self.kind, self.secret, self.key = kind, secret, key
        self.mode, self.delay = mode, delay
        self.received: list[dict] = []      # every request that passed the signature check
        self.rejected: list[str] = []       # why a request was refused
        self.keys: collections.Counter = collections.Counter()  # idempotency keys seen
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one packet per answer: no 40 ms delayed-ACK stalls

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = receiver.handle(self.path, dict(self.headers), raw)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "30")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A client that hangs up (a killed worker, a timed-out request) is not the test's business.
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        if self.kind == "wecom":
            return f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={self.key}"
        if self.kind == "dingtalk":
            return f"http://127.0.0.1:{port}/robot/send?access_token={self.key}"
        if self.kind == "feishu":
            return f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{self.key}"
        return f"http://127.0.0.1:{port}/{self.kind}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def texts(self) -> list[str]:
        """The message text of every accepted request, whatever the vendor's envelope."""
        out = []
        for r in self.received:
            b = r["body"]
            if self.kind in ("wecom", "dingtalk"):
                out.append((b.get("text") or b.get("markdown") or {}).get("content", ""))
            elif self.kind == "feishu":
                out.append(b["content"]["text"])
            elif self.kind == "sms":
                out.append(b["params"]["text"])
            else:
                out.append(b.get("text", json.dumps(b, ensure_ascii=False)))
        return out

    # ---- one request ---------------------------------------------------------------------------------
    def handle(self, path: str, headers: dict, raw: bytes) -> tuple[int, dict]:
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "500":
            return 500, {"error": "internal error"}
        if self.mode == "429":
            return 429, {"error": "too many requests"}
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query)
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": "not JSON"}
        problem = getattr(self, f"check_{self.kind}")(url.path, query, headers, raw, body)
        if problem:
            with self.lock:
                self.rejected.append(problem)
            return self.refusal(problem)
        with self.lock:
            self.received.append({"path": url.path, "query": query, "headers": headers, "body": body})
            key = headers.get("Idempotency-Key")
            if key:
                self.keys[key] += 1
        return 200, {"errcode": 0, "errmsg": "ok"} if self.kind in ("wecom", "dingtalk") else {"code": 0, "msg": "ok"}

    def refusal(self, problem: str) -> tuple[int, dict]:
        """Refuse the way the vendor does: robots answer 200 with an error code."""
        if self.kind == "wecom":
            return 200, {"errcode": 93000, "errmsg": problem}
        if self.kind == "dingtalk":
            return 200, {"errcode": 310000, "errmsg": problem}
        if self.kind == "feishu":
            return 200, {"code": 19021, "msg": problem}
        return 401, {"error": problem}

    # ---- the vendors' rules --------------------------------------------------------------------------
    def check_wecom(self, path, query, headers, raw, body):
        if query.get("key") != [self.key]:
            return "invalid webhook key"
        if body.get("msgtype") not in ("text", "markdown") or not body.get(body["msgtype"], {}).get("content"):
            return "invalid msgtype or empty content"
        return None

    def check_dingtalk(self, path, query, headers, raw, body):
        if query.get("access_token") != [self.key]:
            return "invalid access_token"
        ts, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        # timestamp in ms, within an hour; sign = base64(HmacSHA256(key=secret, ts + "\n" + secret)),
        # URL-encoded on the wire (parse_qs has decoded it).
        if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3600 * 1000:
            return "timestamp in ms required, within one hour"
        expected = base64.b64encode(hmac.new(self.secret.encode("utf-8"), f"{ts}\n{self.secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        if sign != expected:
            return "sign not match"
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return "invalid message"
        return None

    def check_feishu(self, path, query, headers, raw, body):
        ts, sign = str(body.get("timestamp", "")), body.get("sign", "")
        # timestamp in seconds; sign = base64(HmacSHA256(key = ts + "\n" + secret, message = empty)).
        if not ts.isdigit() or abs(int(ts) - time.time()) > 3600:
            return "timestamp in seconds required, within one hour"
        key = f"{ts}\n{self.secret}".encode()
        if sign != base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode():
            return "sign match fail"
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return "invalid message"
        return None

    def check_webhook(self, path, query, headers, raw, body):
        ts = headers.get("X-Casework-Timestamp", "")
        mac = hmac.new(self.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if headers.get("X-Casework-Signature") != f"sha256={mac}":
            return "bad signature"
        if not headers.get("Idempotency-Key"):
            return "no idempotency key"
        return None

    def check_sms(self, path, query, headers, raw, body):
        if headers.get("Authorization") != f"Bearer {self.secret}":
            return "bad api key"
        if not (body.get("phone") and body.get("template_id") and body.get("sign_name")):
            return "phone, template_id and sign_name are required"
        return None
