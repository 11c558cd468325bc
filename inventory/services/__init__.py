"""Writers of inventory: every change of stock, the catalogue and movement imports.

The only writers of StockLevel, StockMovement, Reservation, ShipDay and Transfer:
`reservations` (reserve, release, consume), `ship_capacity` (the daily ship slots a
reserve claims), `movements` (stock in and out at one location), `transfers` (between
locations), `holds` (units on hand that nothing promises: returns awaiting inspection,
damaged and not-found units, and what becomes of them), `count_requests` (shelves to count),
over the shared stock and ledger primitives of `levels`.
"""

from inventory.models import HoldDisposition
from inventory.services.holds import (
    stock_hold_damaged,
    stock_hold_not_found,
    stock_hold_receive,
    stock_hold_release,
    stock_hold_reserved,
    stock_hold_reverse,
    stock_hold_transfer,
)
from inventory.services.levels import MAX_MOVEMENT_QUANTITY, MovementOrigin
from inventory.services.movements import (
    RECORDABLE_REASONS,
    stock_adjust,
    stock_cycle_count,
    stock_movement_record,
    stock_pos_sale,
    stock_receive,
    stock_restock_return,
    stock_set_safety_stock,
    stock_write_off,
)
from inventory.services.reservations import (
    StockRequest,
    stock_consume,
    stock_release,
    stock_reserve,
)
from inventory.services.transfers import (
    stock_transfer,
    stock_transfer_receive,
    stock_transfer_reserved,
    transfer_decline,
    transfer_receive,
    transfer_request,
    transfer_ship,
)

__all__ = [
    "MAX_MOVEMENT_QUANTITY",
    "RECORDABLE_REASONS",
    "HoldDisposition",
    "MovementOrigin",
    "StockRequest",
    "stock_adjust",
    "stock_consume",
    "stock_cycle_count",
    "stock_hold_damaged",
    "stock_hold_not_found",
    "stock_hold_receive",
    "stock_hold_release",
    "stock_hold_reserved",
    "stock_hold_reverse",
    "stock_hold_transfer",
    "stock_movement_record",
    "stock_pos_sale",
    "stock_receive",
    "stock_release",
    "stock_reserve",
    "stock_restock_return",
    "stock_set_safety_stock",
    "stock_transfer",
    "stock_transfer_receive",
    "stock_transfer_reserved",
    "stock_write_off",
    "transfer_decline",
    "transfer_receive",
    "transfer_request",
    "transfer_ship",
]
