import logging

from celery import shared_task

from common import outbox

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=3)
def outbox_deliver(self, event_id: int) -> bool:
    """Process one outbox event. A failure (a mail server down, a deadlock) is counted on
    the event and retried by a worker with backoff; the sweeper takes over after that."""
    try:
        return outbox.outbox_process(event_id=event_id)
    except Exception as exc:
        outbox.outbox_record_failure(event_id=event_id, error=repr(exc))
        logger.exception("outbox event %s failed", event_id)
        if self.request.is_eager:
            # In process (the embedded default, tests) a retry would run at once, inside
            # the request that caused the event: leave it to the sweeper instead.
            return False
        raise self.retry(exc=exc, countdown=min(300, 5 * 4**self.request.retries)) from exc


@shared_task
def outbox_sweep() -> int:
    return outbox.outbox_sweep()
