"""Operations endpoints: `/healthz` (load balancers) and `/metrics` (Prometheus, not public)."""
from __future__ import annotations

import hmac
import os

from flask import Blueprint, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from casework import observability
from casework.extensions import csrf, db, limiter
from casework.services import health

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """200 and `{"ok": true, ...}` while the process runs, the database answers and the schema is at head; else 503."""
    result = health.check()
    response = jsonify(result)
    response.status_code = 200 if result["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _metrics_allowed() -> bool:
    """A configured bearer token from anywhere, or a direct request from an allowed address.

    A request that carries X-Forwarded-For came through a proxy: unless the app is told about the
    proxy (PROXY_COUNT, then remote_addr is the real client), its 127.0.0.1 would be the proxy's.
    """
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if "X-Forwarded-For" in request.headers and not current_app.config.get("PROXY_COUNT"):
        return False
    allowed = {a.strip() for a in str(current_app.config.get("METRICS_ALLOW", "")).split(",") if a.strip()}
    return request.remote_addr in allowed


class _LiveCollector:
    """Figures read from the database when Prometheus scrapes (the same for every worker)."""

    def collect(self):
        age = health.last_sweep_age_seconds()
        gauge = GaugeMetricFamily("casework_last_sweep_age_seconds",
                                  "Seconds since `flask casework sweep` last ran (absent: never).")
        if age is not None:
            gauge.add_metric([], age)
        yield gauge


@bp.route("/metrics")
@limiter.exempt
@csrf.exempt
def metrics():
    """Prometheus text format; 404 for anyone not allowed (METRICS_ALLOW / METRICS_TOKEN)."""
    if not _metrics_allowed():
        abort(404)
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.MultiProcessCollector(registry)  # every worker's values, added up
    else:
        registry = observability.REGISTRY
    body = generate_latest(registry)
    try:
        live = CollectorRegistry()
        live.register(_LiveCollector())
        body += generate_latest(live)
    except Exception as exc:  # the database is down: the process figures are still worth scraping
        current_app.logger.warning("metrics: live figures unavailable (%s)", exc.__class__.__name__)
    db.session.rollback()
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
