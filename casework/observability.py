"""Operations plumbing: request ids in headers and log lines, optional JSON logs, Prometheus metrics.

- Every request gets an id: a sane incoming `X-Request-ID` (from nginx or a load balancer) is kept,
  otherwise a new one is made. It goes back in the `X-Request-ID` response header and into every log
  line written while the request runs (`[rid]` in text logs, `"request_id"` in JSON logs).
- `LOG_JSON=1` writes one JSON object per log line (for log shippers); text otherwise.
- Metrics (prometheus_client) live in process-wide objects: request latency per endpoint, requests
  by status, committed transitions by event. Under gunicorn with several workers set
  `PROMETHEUS_MULTIPROC_DIR` (see docs/deploy.md): each worker then writes its values to files there
  and `/metrics` adds up all workers. Without it, `/metrics` shows only the worker that answered.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

# Letters, digits and a few separators, at most 128: anything else (or nothing) gets a fresh id,
# so a client cannot inject line breaks or megabytes into our logs.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

# Our own registry: several apps in one process (the tests) share the objects, never re-register.
REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "casework_request_seconds", "Time to answer a request, by Flask endpoint and method.",
    ["endpoint", "method"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
REQUESTS = Counter("casework_requests", "Requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"], registry=REGISTRY)
TRANSITIONS = Counter("casework_transitions", "Workflow transitions committed, by event.",
                      ["event"], registry=REGISTRY)

_PENDING = "casework_pending_transitions"


def note_transition(session: Session, event_name: str) -> None:
    """Remember a transition; it is counted only if the transaction that holds it commits."""
    session.info.setdefault(_PENDING, []).append(event_name)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for name in session.info.pop(_PENDING, ()):
        TRANSITIONS.labels(event=name).inc()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing of it survives
        session.info.pop(_PENDING, None)


def current_request_id() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
               "level": record.levelname, "logger": record.name,
               "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(app: Flask) -> None:
    """One stderr handler on the root logger (text or JSON) whose lines carry the request id."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO))
    ours = [h for h in root.handlers if getattr(h, "_casework", False)]
    handler = ours[0] if ours else logging.StreamHandler()
    handler._casework = True
    handler.setFormatter(JsonFormatter() if app.config.get("LOG_JSON") else logging.Formatter(TEXT_FORMAT))
    if not ours:
        root.addHandler(handler)
    for h in root.handlers:  # pytest's capture handlers too: every line knows its request
        if not any(isinstance(f, RequestIdFilter) for f in h.filters):
            h.addFilter(RequestIdFilter())


def init_app(app: Flask) -> None:
    """Request ids, logging and request metrics for `app`."""
    configure_logging(app)

    def start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    # First of all before-request functions, so even a rate-limit refusal has its id.
    app.before_request_funcs.setdefault(None, []).insert(0, start)

    @app.after_request
    def finish(response):
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        started = g.get("request_started")
        if started is not None:
            endpoint = request.endpoint or "unmatched"  # 404s share one label: no unbounded label values
            REQUEST_SECONDS.labels(endpoint=endpoint, method=request.method).observe(time.perf_counter() - started)
            REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
        return response
