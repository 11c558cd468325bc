"""Prometheus metrics: requests, checkouts, ship routing, the outbox and Celery tasks.

Counters and histograms live in each process (prometheus_client). With PROMETHEUS_MULTIPROC_DIR
set, every process of a server writes its values to files there and a scrape adds them up:
gunicorn's workers (config/gunicorn.py gives the directory and marks exited workers dead),
and a Celery worker's pool, which serves its own scrape port (METRICS_PORT). The outbox's
figures are read from the database at scrape time, in one query.
"""

import glob
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterator
from time import perf_counter
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

# prometheus_client opens its files there as soon as a metric is defined, below.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUEST_SECONDS = Histogram(
    "omnistock_http_request_duration_seconds",
    "Time to answer an HTTP request, by view, method and status.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECKOUTS_PLACED = Counter("omnistock_checkouts_placed", "Orders placed by checkout (not replays).")
CHECKOUTS_REFUSED = Counter(
    "omnistock_checkouts_refused", "Checkouts answered with an error, by its code.", ["code"]
)
SHIP_SNAPSHOTS = Counter(
    "omnistock_routing_ship_snapshots",
    "Ship routing snapshots, by what they looked at: the locations nearest the customer, or"
    " every holder of the order's SKUs (when the nearest could not settle it).",
    ["looked_at"],
)
TASK_FAILURES = Counter("omnistock_celery_task_failures", "Celery tasks that failed.", ["task"])
TASK_RETRIES = Counter("omnistock_celery_task_retries", "Celery task retries.", ["task"])

logger = logging.getLogger(__name__)

CHECKOUT_VIEW = "orders:checkout"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_timers: dict[tuple[str, str, int], Histogram] = {}


class MetricsMiddleware:
    """Times every request by the name of the view that answered it (one histogram sample)
    and counts checkouts placed and refused."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = match.view_name if match is not None else "<unresolved>"
        method = request.method if request.method in _METHODS else "other"
        status = response.status_code
        key = (view, method, status)
        timer = _timers.get(key)
        if timer is None:  # the first of its kind: labels() is too slow for every request
            timer = _timers[key] = REQUEST_SECONDS.labels(view, method, str(status))
        timer.observe(perf_counter() - started)
        if view == CHECKOUT_VIEW:
            _count_checkout(response, status)
        return response


def _count_checkout(response: HttpResponse, status: int) -> None:
    if status == 201:
        if not response.has_header("Idempotent-Replayed"):
            CHECKOUTS_PLACED.inc()
    elif status >= 400:
        data = getattr(response, "data", None)
        code = data.get("code") if isinstance(data, dict) else None
        CHECKOUTS_REFUSED.labels(str(code)[:64] if code else f"http_{status}").inc()


class OutboxCollector(Collector):
    """The outbox's backlog, the age of its oldest waiting event and the events given up
    on (OUTBOX_MAX_ATTEMPTS failures), in one query over the unprocessed rows."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Min, Q
        from django.utils import timezone

        from common.models import OutboxEvent

        given_up = Q(attempts__gte=settings.OUTBOX_MAX_ATTEMPTS)
        row = OutboxEvent.objects.filter(processed_at__isnull=True).aggregate(
            backlog=Count("pk", filter=~given_up),
            oldest=Min("created_at", filter=~given_up),
            given_up=Count("pk", filter=given_up),
        )
        age = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
        yield GaugeMetricFamily(
            "omnistock_outbox_backlog", "Outbox events waiting to be processed.", row["backlog"]
        )
        yield GaugeMetricFamily(
            "omnistock_outbox_oldest_age_seconds",
            "Age of the oldest outbox event waiting to be processed (0 when none waits).",
            max(age, 0.0),
        )
        yield GaugeMetricFamily(
            "omnistock_outbox_given_up",
            "Outbox events left for a person after OUTBOX_MAX_ATTEMPTS failures.",
            row["given_up"],
        )


def _multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _SharedFilesCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's collector over every process's file, less the empty ones: a
    process creates its file before sizing it, and a scrape that read one in that moment
    (or one left so by a process killed then, for good) failed whole, every other
    process's counters with it."""

    def collect(self):
        files = [path for path in glob.glob(os.path.join(self._path, "*.db")) if _sized(path)]
        return self.merge(files, accumulate=True)


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone meanwhile (a process marked dead)
        return False


def process_metrics() -> bytes:
    """The counters of this server: every process's when they share a directory."""
    if _multiprocess_dir():
        registry = CollectorRegistry()
        _SharedFilesCollector(registry, path=_multiprocess_dir())
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _outbox_metrics() -> bytes:
    registry = CollectorRegistry()
    registry.register(OutboxCollector())
    return generate_latest(registry)


def _token_matches(authorization: str) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = authorization.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.encode(), token.encode())
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: for a scraper with `Authorization: Bearer <METRICS_TOKEN>` or a staff
    member signed in to the admin; anyone else gets a 404, as if there were no such page."""
    user = getattr(request, "user", None)
    allowed = _token_matches(request.headers.get("Authorization", "")) or (
        user is not None and user.is_active and user.is_staff
    )
    if not allowed:
        raise Http404
    return HttpResponse(process_metrics() + _outbox_metrics(), content_type=CONTENT_TYPE_LATEST)


# --- Celery --------------------------------------------------------------------------------


def _task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", str(sender))).inc()


def _task_retried(sender=None, **kwargs) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", str(sender))).inc()


def _pool_process_exited(pid: int | None = None, **kwargs) -> None:
    if _multiprocess_dir():
        multiprocess.mark_process_dead(pid or os.getpid())


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass  # no line per scrape


def _worker_scrape_app(environ, start_response):
    """The worker's scrape endpoint: its pool's counters, behind the same token."""
    if not _token_matches(environ.get("HTTP_AUTHORIZATION", "")):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found\n"]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [process_metrics()]


def worker_metrics_serve(*, port: int, address: str) -> None:
    """Serve the worker's counters on `address`:`port` from a thread of its main process."""
    server = make_server(address, port, _worker_scrape_app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def multiprocess_dir_clear(*, keep_pid: int | None = None) -> None:
    """Start the directory afresh: what processes of an earlier run wrote would add up with
    this run's (a worker's own files, already open, are kept)."""
    directory = _multiprocess_dir()
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db") and not name.endswith(f"_{keep_pid}.db"):
            os.remove(os.path.join(directory, name))


def _worker_initialising(**kwargs) -> None:
    multiprocess_dir_clear(keep_pid=os.getpid())


def _worker_starting(**kwargs) -> None:
    port = int(settings.METRICS_PORT or 0)
    if not port:
        return
    if not _multiprocess_dir():
        logger.warning(
            "METRICS_PORT is set without PROMETHEUS_MULTIPROC_DIR: the counts of the pool's "
            "processes are not seen on it"
        )
    worker_metrics_serve(port=port, address=settings.METRICS_ADDRESS)


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_failure.connect(_task_failed, weak=False)
    signals.task_retry.connect(_task_retried, weak=False)
    signals.worker_process_shutdown.connect(_pool_process_exited, weak=False)
    signals.worker_init.connect(_worker_initialising, weak=False)
    signals.worker_ready.connect(_worker_starting, weak=False)
