from common.errors import DomainError


class InsufficientStock(DomainError):
    """Raised with `lines=[{"sku", "location", "requested", "available"}]` for every short line."""

    code = "insufficient_stock"
    status = 409
    default_detail = "Not enough stock for every line."


class ShipCapacityExhausted(InsufficientStock):
    """A location already took as many ship orders today as its `daily_ship_capacity`.

    An InsufficientStock, so callers that re-route on a shortage re-route on this too.
    Raised with `locations=[{"location", "capacity"}]` and the `lines` held there.
    """

    code = "ship_capacity_exhausted"
    status = 409
    default_detail = "A location has no ship capacity left today."


class CountBelowReserved(DomainError):
    """Raised with `counted`, `on_hand_now`, `reserved` and, when units stay held (returns
    awaiting inspection, damaged), `held`."""

    code = "count_below_reserved"
    status = 409
    default_detail = (
        "The counted quantity is below what is reserved or held; release, re-route or "
        "inspect first."
    )


class StaleCount(DomainError):
    """A count taken before one already recorded for the same stock: the newer one stands."""

    code = "stale_count"
    status = 409
    default_detail = "A more recent count of this stock is already recorded."


class InvalidMovement(DomainError):
    code = "invalid_movement"
    status = 400
    default_detail = "The movement is not valid."


class StockInvariantBroken(DomainError):
    """A release or consume found less reserved stock than its reservations: a bug, not input."""

    code = "stock_invariant_broken"
    status = 500


class InsufficientHeld(DomainError):
    """A disposition (restock, write-off, transfer) for more units than the hold has there.

    Raised with `sku`, `location`, `requested` and `held` (what a disposition may take now:
    units held as not found wait for their count and are not among them).
    """

    code = "insufficient_held"
    status = 409
    default_detail = "Fewer units are held there than the disposition asks for."


class TransferNotAllowed(DomainError):
    code = "transfer_not_allowed"
    status = 403
    default_detail = "Only staff of that location can do this with the transfer."


class TransferNotOpen(DomainError):
    code = "transfer_not_open"
    status = 409
    default_detail = "The transfer is no longer waiting for this."
