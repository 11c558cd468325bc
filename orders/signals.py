"""Signals for apps above orders that must act inside the same transaction."""

from django.dispatch import Signal

# Sent inside the cancelling transaction; kwargs: order, actor, line_ids (None = whole order).
order_cancelled = Signal()
