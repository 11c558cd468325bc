import logging

from celery import shared_task

from common import outbox

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    # Any failure (a mail server down, a deadlock) is retried with backoff; the sweeper
    # picks the event up again after the retries run out.
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def outbox_deliver(self, event_id: int) -> bool:
    try:
        return outbox.outbox_process(event_id=event_id)
    except Exception as exc:
        outbox.outbox_record_failure(event_id=event_id, error=repr(exc))
        logger.exception("outbox event %s failed", event_id)
        raise


@shared_task
def outbox_sweep() -> int:
    return outbox.outbox_sweep()
