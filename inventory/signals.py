"""Signals for apps above inventory that must act inside the same transaction."""

from django.dispatch import Signal

# A till's sale synced through the movements API named a loyalty member. Sent inside the
# movement's transaction; kwargs: movement, member_id, paid (Decimal: what the till took for
# the units, or None: their price). A receiver that raises a DomainError refuses the row.
pos_sale_for_member = Signal()
