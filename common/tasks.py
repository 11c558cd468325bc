"""Common's Celery tasks. They live with the outbox they serve (common/outbox.py), which
queues its own deliveries; they are named here, where Celery's autodiscovery looks."""

from common.outbox import outbox_deliver, outbox_sweep_task

__all__ = ["outbox_deliver", "outbox_sweep_task"]
