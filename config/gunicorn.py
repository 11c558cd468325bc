"""Gunicorn settings (`gunicorn -c config/gunicorn.py config.wsgi`): the worker class, and
the metrics of every worker process added up on each scrape of /metrics.

Each worker is gthread with one thread: its main thread accepts connections and waits in a
poller for their requests to start, hands a connection to the thread only then, and keeps
it open for the client's next request (`keepalive` seconds). A sync worker closes every
connection after one answer, and reads the request of each connection it accepts blocked
until it arrives: a client that connects before it sends (as a load balancer's or a
browser's spare connection does) holds that worker meanwhile, and the requests queued
behind it wait. A client that starts a request and sends the rest slowly still holds a
thread: in front of the app, a proxy that buffers requests (nginx, a cloud balancer) is
still the place for those. One thread per worker, as the sync worker had: a checkout is
CPU-bound, and with two threads per worker the bench placed no more orders and answered
slower (`GUNICORN_CMD_ARGS="--threads 2"` gives more, as for any gunicorn setting).

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
worker_class = "gthread"
threads = 1
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"


def on_starting(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
