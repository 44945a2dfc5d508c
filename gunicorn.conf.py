"""gunicorn settings read automatically from the working directory (`gunicorn wsgi:app`).

Only what the app needs from gunicorn itself; workers, binds and timeouts are given on the command
line (docs/deploy.md). With PROMETHEUS_MULTIPROC_DIR set (several workers, one /metrics for all),
a dead worker's live gauges are dropped from the shared files.
"""
import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
