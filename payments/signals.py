"""Signals for apps above payments that must act inside the same transaction."""

from django.dispatch import Signal

# A capture, void or refund row of a points tender was written (pending: settled after
# commit like a till's). Kwargs: payment, transaction. The receiver moves the points.
points_tender_moved = Signal()
