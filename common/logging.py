"""Log lines that say which request and which order they are about.

The request id and the order being handled live in context variables: the request id is
set per request by `common.middleware.RequestIdMiddleware` and per task from the header the
publishing request gave it; the order by `order_bind` where a service or task starts on one.
`ContextFilter` puts both on every record, `JsonFormatter` writes one JSON object per line
(LOG_FORMAT=json, the production default).
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
order_var: ContextVar[str] = ContextVar("order", default="")

REQUEST_ID_HEADER = "X-Request-ID"
# An id a proxy or a client sent is kept only when it cannot break a log line or a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_from(value: str | None) -> str:
    """`value` when it is a sane request id, else a new one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def order_bind(number: str) -> None:
    """Name order `number` on every log line of the current request or task from here on."""
    order_var.set(str(number))


class ContextFilter(logging.Filter):
    """Adds `request_id` and `order` to every record (an `extra={"order": ...}` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        if not getattr(record, "order", ""):
            record.order = order_var.get()
        return True


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "order",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, order, then any
    extra fields of the record, and the traceback as `exc_info`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "order": getattr(record, "order", ""),
        }
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _RECORD_FIELDS and not key.startswith("_")
        )
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# --- Celery: a task logs with the id of the request that queued it ------------------------

_TASK_HEADER = "omnistock_request_id"


def _publishing(headers: dict | None = None, **kwargs) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers[_TASK_HEADER] = request_id


def _in_process(task) -> bool:
    """An eager task (the embedded default) logs as the request it runs in."""
    return getattr(getattr(task, "request", None), "is_eager", False)


def _task_starting(task_id: str = "", task=None, **kwargs) -> None:
    if _in_process(task):
        return
    request = task.request
    sent = getattr(request, _TASK_HEADER, None) or (request.headers or {}).get(_TASK_HEADER)
    request_id_var.set(sent or task_id)
    order_var.set("")


def _task_done(task=None, **kwargs) -> None:
    if _in_process(task):
        return
    request_id_var.set("")
    order_var.set("")


def _keep_django_logging(**kwargs) -> None:
    """A worker logs through Django's LOGGING (JSON lines in production), not Celery's own
    format: a receiver of `setup_logging` tells Celery to leave logging alone."""


def connect_celery_signals() -> None:
    from celery import signals

    signals.setup_logging.connect(_keep_django_logging, weak=False)
    signals.before_task_publish.connect(_publishing, weak=False)
    signals.task_prerun.connect(_task_starting, weak=False)
    signals.task_postrun.connect(_task_done, weak=False)
