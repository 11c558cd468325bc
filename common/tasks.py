"""Common's Celery tasks. The outbox's live with it (common/outbox.py), which queues its own
deliveries; they are named here, where Celery's autodiscovery looks."""

from celery import shared_task

from common.idempotency import idempotency_keys_purge
from common.outbox import outbox_deliver, outbox_sweep_task

__all__ = ["outbox_deliver", "outbox_sweep_task", "purge_idempotency_keys"]


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys past their time to live."""
    return idempotency_keys_purge()
