"""Gunicorn settings (`gunicorn -c config/gunicorn.py config.wsgi`): the metrics of every
worker process add up on each scrape of /metrics.

The workers write their counters to PROMETHEUS_MULTIPROC_DIR (a new temporary directory
when it is not set), emptied when gunicorn starts so an earlier run's counts are not added
in; a worker that exits is marked dead there. Nothing here imports prometheus_client: it
reads the directory when first imported, in each worker.
"""

import os
import tempfile
from pathlib import Path

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="omnistock-metrics-")

workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"


def on_starting(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
