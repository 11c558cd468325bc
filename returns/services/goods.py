"""The returned goods in stock: received into the hold of the receiving location (on hand
there, promised to nobody until inspected), then restocked there, written off or
transferred; a corrected inspection reverses what was applied first. Every change goes
through inventory's hold services, referenced by the return."""

from inventory.services.holds import (
    stock_hold_receive,
    stock_hold_release,
    stock_hold_reverse,
    stock_hold_transfer,
)
from returns.errors import ReturnStatusConflict
from returns.models import Disposition, Return, ReturnLine
from returns.references import ReturnReference


def _reference(ret: Return) -> str:
    return str(ReturnReference(rma=ret.rma))


def goods_receive(*, ret: Return, lines: list[ReturnLine], actor=None) -> None:
    """The units are at the receiving location, held until inspected (whether it ever
    stocked them or not)."""
    for line in lines:
        stock_hold_receive(
            location=ret.location, sku=line.sku, quantity=line.quantity,
            reference=_reference(ret), actor=actor, note=f"return {ret.rma} received",
        )  # fmt: skip


def goods_hand_back(*, ret: Return, lines: list[ReturnLine], actor=None) -> None:
    """A rejected return's units go back to the customer: out of the hold and off hand."""
    for line in lines:
        stock_hold_release(
            location=ret.location, sku=line.sku, quantity=line.quantity,
            disposition=Disposition.WRITE_OFF, reference=_reference(ret), actor=actor,
            note=f"return {ret.rma} rejected: handed back to the customer",
        )  # fmt: skip


def goods_dispose(*, ret: Return, line: ReturnLine, actor=None) -> None:
    """Apply the line's disposition to its held units, reversing the one applied before (a
    corrected inspection), and remember what was applied. A transfer already sent cannot
    be reversed (409): the units are sent back as any stock is."""
    if line.applied_disposition == Disposition.TRANSFER:
        raise ReturnStatusConflict(
            f"The units of line {line.order_line_id} were transferred to "
            f"{line.applied_target.code}: a transfer is not reversed.",
            line=line.order_line_id,
        )
    reference, note = _reference(ret), f"return {ret.rma}: {line.condition}"
    if line.applied_disposition:
        stock_hold_reverse(
            location=ret.location, sku=line.sku, quantity=line.quantity,
            disposition=line.applied_disposition, reference=reference, actor=actor,
            note=f"return {ret.rma}: inspection corrected",
        )  # fmt: skip
    if line.disposition == Disposition.TRANSFER:
        stock_hold_transfer(
            from_location=ret.location, to_location=line.target_location, sku=line.sku,
            quantity=line.quantity, reference=reference, actor=actor,
        )  # fmt: skip
    else:
        stock_hold_release(
            location=ret.location, sku=line.sku, quantity=line.quantity,
            disposition=line.disposition, reference=reference, actor=actor, note=note,
        )  # fmt: skip
    line.applied_disposition = line.disposition
    line.applied_target = line.target_location
