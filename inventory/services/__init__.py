"""Writers of inventory: stock (reservations and movements), catalogue, imports."""

from inventory.services.stock import (
    StockRequest,
    stock_adjust,
    stock_consume,
    stock_cycle_count,
    stock_pos_sale,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_restock_return,
    stock_set_safety_stock,
    stock_transfer,
    stock_transfer_receive,
    stock_transfer_reserved,
    stock_write_off,
)

__all__ = [
    "StockRequest",
    "stock_adjust",
    "stock_consume",
    "stock_cycle_count",
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
]
