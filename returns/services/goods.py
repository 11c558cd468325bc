"""The returned goods in stock: received into the inspection hold of the receiving
location, then restocked there, written off or transferred, and a corrected inspection
undone first. Every change goes through inventory's services, referenced by the return."""

from inventory.services import stock_restock_return, stock_transfer
from inventory.services.levels import MovementOrigin
from returns.models import Disposition, Return, ReturnLine
from returns.references import ReturnReference


def _origin(ret: Return, actor, note: str) -> MovementOrigin:
    return MovementOrigin(actor=actor, reference=str(ReturnReference(rma=ret.rma)), note=note)


def goods_receive(*, ret: Return, lines: list[ReturnLine], actor=None) -> None:
    """The units are at the receiving location, not sellable until inspected."""


def goods_hand_back(*, ret: Return, lines: list[ReturnLine], actor=None) -> None:
    """A rejected return's units go back to the customer: out of the hold."""


def goods_dispose(*, ret: Return, line: ReturnLine, actor=None) -> None:
    """Apply the line's disposition to its units (undoing one applied before), and remember
    what was applied."""
    if line.applied_disposition:
        _undo(ret=ret, line=line, actor=actor)
    origin = _origin(ret, actor, f"{line.get_condition_display()}: {line.disposition}")
    if line.disposition == Disposition.RESTOCK:
        stock_restock_return(location=ret.location, sku=line.sku, quantity=line.quantity,
                             origin=origin)  # fmt: skip
    elif line.disposition == Disposition.TRANSFER:
        stock_restock_return(location=ret.location, sku=line.sku, quantity=line.quantity,
                             origin=origin)  # fmt: skip
        stock_transfer(from_location=ret.location, to_location=line.target_location,
                       sku=line.sku, quantity=line.quantity, actor=actor,
                       reference=str(ReturnReference(rma=ret.rma)))  # fmt: skip
    line.applied_disposition = line.disposition
    line.applied_target = line.target_location


def _undo(*, ret: Return, line: ReturnLine, actor=None) -> None:
    raise NotImplementedError
