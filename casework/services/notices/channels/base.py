"""What every channel shares: the message it is given, the result it gives back, HTTP plumbing."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import requests
from flask_babel import lazy_gettext as _l

ANSWER_MAX = 500


@dataclass(frozen=True)
class Field:
    """One setting of a channel as the admin screen shows it; secrets are shown masked once saved."""

    name: str
    label: object
    secret: bool = False
    required: bool = True
    default: str = ""


@dataclass(frozen=True)
class Outgoing:
    """An outbox row as a channel sees it (a plain value: no session, no lazy loading)."""

    id: int
    key: str
    destination: str
    payload: dict
    kind: str = ""


@dataclass
class Result:
    """What the receiver answered. `retry_after` (seconds) comes from a 429's Retry-After."""

    ok: bool
    answer: str = ""
    retry_after: float | None = None


class Channel:
    kind = ""
    label: object = ""
    fields: tuple[Field, ...] = ()
    # Whether a message needs a destination (an address) besides the channel's own settings.
    personal = False

    def __init__(self, config: dict, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message: Outgoing) -> Result:  # pragma: no cover - every channel overrides it
        raise NotImplementedError

    def close(self) -> None:
        """Release pooled connections."""


class HttpChannel(Channel):
    """A channel that POSTs JSON, over keep-alive sessions (one per sending thread)."""

    def __init__(self, config: dict, timeout: float = 10.0) -> None:
        super().__init__(config, timeout)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()

    def post_json(self, url: str, body: dict, headers: dict | None = None, *, data: bytes | None = None) -> Result:
        """POST `body` as JSON (or the exact bytes `data`); map the HTTP answer to a Result."""
        raw = data if data is not None else json.dumps(body, ensure_ascii=False).encode()
        try:
            response = self.http.post(url, data=raw, timeout=(min(self.timeout, 5.0), self.timeout),
                                      headers={"Content-Type": "application/json; charset=utf-8",
                                               **(headers or {})})
        except requests.RequestException as exc:
            return Result(False, f"{type(exc).__name__}: {exc}"[:ANSWER_MAX])
        answer = f"HTTP {response.status_code} {response.text}"[:ANSWER_MAX]
        if response.status_code == 429:
            return Result(False, answer, retry_after=_retry_after(response.headers.get("Retry-After")))
        if not 200 <= response.status_code < 300:
            return Result(False, answer)
        return self.check_body(response, answer)

    def check_body(self, response, answer: str) -> Result:
        """Vendors answer 200 with an error code in the body; the robots override this."""
        return Result(True, answer)


def vendor_code(response, name: str) -> int | None:
    """The vendor's error code in a JSON answer (errcode / code), or None when there is none."""
    try:
        return int(response.json().get(name))
    except (ValueError, TypeError, AttributeError):
        return None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


WEBHOOK_URL = Field("webhook_url", _l("Webhook 地址"), secret=True)
SIGNING_SECRET = Field("secret", _l("签名密钥"), secret=True, required=False)
