"""A return from its opening to its end: open, receive, inspect, complete, reject, cancel.

Each service is its own transaction. The order's lines are locked (order row first, lines in
pk order) whenever units are counted, so two counters returning the same units at once
cannot both succeed; the goods move through inventory, the money through payments and the
order learns of returned units only through `orders.services.returns`.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django_fsm import can_proceed

from common.codes import readable_code
from common.db import retry_on_conflict
from common.outbox import outbox_publish
from fulfillment.selectors import lines_handed_over_at
from inventory.models import Sku
from orders.events import (
    order_event_return_cancelled,
    order_event_return_completed,
    order_event_return_inspected,
    order_event_return_received,
    order_event_return_rejected,
    order_event_return_requested,
)
from orders.models import Order, OrderLine
from orders.services.returns import order_lines_for_return, order_lines_returned
from returns.errors import (
    FinalSale,
    ReturnForbidden,
    ReturnInvalid,
    ReturnNotAllowedHere,
    ReturnQuantityExceeded,
    ReturnStatusConflict,
    ReturnWindowClosed,
    UnitsNotFulfilled,
)
from returns.models import Condition, Disposition, Return, ReturnExchange, ReturnLine
from returns.policy import ZERO, reason_code, refunds_shipping, window_ends
from returns.references import ReturnReference
from returns.services import goods
from returns.services.codes import return_code_check
from returns.services.exchanges import return_exchange
from returns.services.money import line_price, refund_due, return_refund
from stores.models import Location
from stores.selectors import location_ids_for_user

CODE_LENGTH = 6
NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class ReturnLineRequest:
    line_id: int
    quantity: int
    reason: str
    note: str = ""


@dataclass(frozen=True)
class ExchangeRequest:
    line_id: int
    sku: Sku
    quantity: int


@dataclass(frozen=True)
class ReturnRequest:
    order: Order
    lines: list[ReturnLineRequest]
    location: Location | None = None  # None: opened online
    exchange: list[ExchangeRequest] = field(default_factory=list)
    exchange_tender: str = "card_present"  # how the till takes a difference


@dataclass(frozen=True)
class Inspection:
    line_id: int
    condition: str
    disposition: str
    target: Location | None = None


# --- who may ---------------------------------------------------------------------------------


def _staff_at(actor, location: Location) -> bool:
    allowed = location_ids_for_user(user=actor)
    return allowed is None or location.pk in allowed


def _check_receiving_location(location: Location, actor) -> None:
    if not location.accepts_returns or not location.is_active:
        raise ReturnNotAllowedHere(
            f"{location.code} does not accept returns.",
            errors={"location": [f"{location.code} does not accept returns."]},
        )
    if not _staff_at(actor, location):
        raise ReturnForbidden(f"{location.code} is not one of your locations.")


def _check_opener(*, order: Order, location: Location | None, actor, channel: str) -> None:
    if location is not None:
        _check_receiving_location(location, actor)
        return
    if getattr(actor, "is_superuser", False):
        return
    if not channel or channel != order.channel:
        raise ReturnForbidden("An online return is opened by the order's own channel.")


def _check_handler(ret: Return, actor) -> None:
    """Staff act on a return received at their locations (any store may receive one)."""
    if ret.location_id is not None and not _staff_at(actor, ret.location):
        raise ReturnForbidden(f"Return {ret.rma} is handled at another location.")


# --- open ------------------------------------------------------------------------------------


def _in_open_returns(line_ids: list[int]) -> dict[int, int]:
    """Units of these lines in returns still on their way (requested, not yet received)."""
    rows = (
        ReturnLine.objects.filter(
            order_line_id__in=line_ids, return_order__status=Return.Status.REQUESTED
        )
        .values_list("order_line_id")
        .annotate(total=Sum("quantity"))
        .order_by()
    )
    return dict(rows)


def _check_lines(*, order: Order, lines: dict[int, OrderLine], request: ReturnRequest) -> None:
    """The policy, under the order lines' locks: each line once, a known reason, not final
    sale, within its window, no more than fulfilled less returned and in open returns."""
    wanted = [line.line_id for line in request.lines]
    if not wanted or len(set(wanted)) != len(wanted):
        raise ReturnInvalid(errors={"lines": ["Give each line of the order once."]})
    unknown = [i for i, line_id in enumerate(wanted) if line_id not in lines]
    if unknown:
        raise ReturnInvalid(
            errors={"lines": {i: {"line": ["Not a line of this order."]} for i in unknown}}
        )
    bad_reason = [i for i, line in enumerate(request.lines) if reason_code(line.reason) is None]
    if bad_reason:
        raise ReturnInvalid(
            errors={
                "lines": {
                    i: {"reason": [f"One of: {', '.join(settings.OMS_RETURN_REASONS)}."]}
                    for i in bad_reason
                }
            }
        )
    in_open = _in_open_returns(wanted)
    handed_over = lines_handed_over_at(order_id=order.pk)
    now = timezone.now()
    for asked in request.lines:
        line = lines[asked.line_id]
        if line.sku.final_sale:
            raise FinalSale(line=line.pk, sku=line.sku_code)
        returnable = line.quantity_fulfilled - line.quantity_returned - in_open.get(line.pk, 0)
        if asked.quantity > returnable:
            never_fulfilled = line.quantity - line.quantity_fulfilled - line.quantity_cancelled
            if never_fulfilled and asked.quantity <= returnable + never_fulfilled:
                raise UnitsNotFulfilled(
                    line=line.pk,
                    requested=asked.quantity,
                    returnable=max(returnable, 0),
                    not_fulfilled=never_fulfilled,
                    cancel=f"/api/v1/orders/{order.number}/lines/{line.pk}/cancel",
                )
            raise ReturnQuantityExceeded(
                line=line.pk, requested=asked.quantity, returnable=max(returnable, 0)
            )
        ends = window_ends(
            sku=line.sku, handed_over_at=handed_over.get(line.pk) or order.fulfilled_at
        )
        if ends is None or ends < now:  # per line: a SKU's own window outlives the order's
            raise ReturnWindowClosed(line=line.pk, window_ended=ends.isoformat() if ends else None)


def _check_exchange(request: ReturnRequest) -> dict[int, int]:
    """Units exchanged per returned line: no more than the line returns."""
    returning = {line.line_id: line.quantity for line in request.lines}
    exchanged: dict[int, int] = defaultdict(int)
    for i, swap in enumerate(request.exchange):
        if swap.line_id not in returning:
            raise ReturnInvalid(errors={"exchange": {i: {"line": ["Not a line of this return."]}}})
        exchanged[swap.line_id] += swap.quantity
        if exchanged[swap.line_id] > returning[swap.line_id]:
            raise ReturnInvalid(
                errors={"exchange": {i: {"quantity": ["More than the line returns."]}}}
            )
    return exchanged


def _insert_return(**fields) -> Return:
    """The return under a fresh RMA number and counter code (a clash is drawn again)."""
    for attempt in range(NUMBER_ATTEMPTS):
        ret = Return(rma="RMA" + readable_code(8), code=readable_code(CODE_LENGTH), **fields)
        try:
            with transaction.atomic():
                ret.save(force_insert=True)
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise
            continue
        return ret
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def return_open(*, request: ReturnRequest, actor, channel: str = "") -> Return:
    """Open a return of an order's fulfilled units: online (no location, by the order's
    channel; the customer gets the return code) or at a store's counter by its staff
    (opened and received in this one transaction). 400 for bad lines or a location that
    does not take returns, 403 for another channel or store, 409 (each with its code) for
    unfulfilled units, units already returned or in open returns, final sale, the window
    over."""
    _check_opener(order=request.order, location=request.location, actor=actor, channel=channel)
    order, lines = order_lines_for_return(order=request.order)
    _check_lines(order=order, lines=lines, request=request)
    exchanged = _check_exchange(request)
    ret = _insert_return(
        order=order,
        customer=order.customer,
        opened_at=request.location,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    ReturnLine.objects.bulk_create(
        [
            ReturnLine(
                return_order=ret,
                order_line_id=asked.line_id,
                sku_id=lines[asked.line_id].sku_id,
                quantity=asked.quantity,
                reason=reason_code(asked.reason),
                note=asked.note[:255],
                exchanged=exchanged.get(asked.line_id, 0),
            )
            for asked in request.lines
        ]
    )
    ReturnExchange.objects.bulk_create(
        [
            ReturnExchange(
                return_order=ret, order_line_id=swap.line_id, sku=swap.sku, quantity=swap.quantity
            )
            for swap in request.exchange
        ]
    )
    units = sum(line.quantity for line in request.lines)
    where = f"at {request.location.code}" if request.location else "online"
    order_event_return_requested(
        order=order,
        message=f"Return {ret.rma} of {units} unit(s) opened {where}",
        data={"return": ret.rma, "code": ret.code,
              "lines": [{"line": a.line_id, "quantity": a.quantity} for a in request.lines]},
        actor=actor,
        location=request.location,
    )  # fmt: skip
    if request.location is None:
        outbox_publish("return.requested", rma=ret.rma)
        return ret
    return _receive(
        ret=ret, order=order, lines=lines, location=request.location, actor=actor,
        exchange_tender=request.exchange_tender,
    )  # fmt: skip


# --- receive ---------------------------------------------------------------------------------


def return_get_for_update(*, rma: str) -> Return:
    return (
        Return.objects.select_related("order", "location", "customer")
        .select_for_update(of=("self",))
        .get(rma=rma)
    )


@retry_on_conflict
def return_receive(
    *,
    ret: Return,
    location: Location,
    actor,
    exchange_tender: str = "card_present",
    code: str = "",
) -> Return:
    """The goods of a return opened online are at a store's counter (any location that
    accepts returns): on hand there in the inspection hold, the order's returned units and
    `return_status` follow, the customer is told. 409 unless requested. With the `code` the
    customer shows, that is checked first (`return_code_check`: wrong tries are kept, and
    too many lock the return's code)."""
    if code:
        _check_receiving_location(location, actor)
        return_code_check(ret=ret, code=code, actor=actor, location=location)
    with transaction.atomic():
        return _return_receive(
            ret=ret, location=location, actor=actor, exchange_tender=exchange_tender
        )


def _return_receive(*, ret: Return, location: Location, actor, exchange_tender: str) -> Return:
    ret = return_get_for_update(rma=ret.rma)
    _check_receiving_location(location, actor)
    if ret.status != Return.Status.REQUESTED:
        raise ReturnStatusConflict(
            f"Return {ret.rma} is {ret.status}: only a requested return can be received.",
            rma=ret.rma,
            status=ret.status,
        )
    order, lines = order_lines_for_return(order=ret.order)
    return _receive(
        ret=ret, order=order, lines=lines, location=location, actor=actor,
        exchange_tender=exchange_tender,
    )  # fmt: skip


def _receive(
    *,
    ret: Return,
    order: Order,
    lines: dict[int, OrderLine],
    location: Location,
    actor,
    exchange_tender: str,
) -> Return:
    rlines = list(ret.lines.select_related("sku").order_by("pk"))
    returning = {rl.order_line_id: rl.quantity for rl in rlines}
    for rl in rlines:
        line_price(line=rl, order_line=lines[rl.order_line_id],
                   start=lines[rl.order_line_id].quantity_returned)  # fmt: skip
    exchanging = ret.exchanges.exists()  # an exchange keeps the order going: no shipping back
    if (
        not exchanging
        and refunds_shipping(order=order, lines=lines, returning=returning)
        and not _shipping_refunded(order)
    ):
        ret.shipping_refunded = order.shipping_total
    ReturnLine.objects.bulk_update(rlines, ["unit_paid", "fee", "refund_amount"])
    order_lines_returned(
        order=order, quantities=returning, reference=str(ReturnReference(rma=ret.rma)),
        actor=actor,
    )  # fmt: skip
    ret.location = location
    ret.received_at = timezone.now()
    ret.receive()
    goods.goods_receive(ret=ret, lines=rlines, actor=actor)
    order_event_return_received(
        order=order,
        message=f"Return {ret.rma} received at {location.code}",
        data={"return": ret.rma,
              "lines": [{"line": rl.order_line_id, "quantity": rl.quantity} for rl in rlines]},
        actor=actor,
        location=location,
    )  # fmt: skip
    return_exchange(ret=ret, order=order, lines=rlines, actor=actor, tender=exchange_tender)
    if settings.OMS_RETURN_REFUND_ON == "receipt":
        due = refund_due(ret=ret, lines=rlines, surplus=ret.exchange_surplus)
        return_refund(ret=ret, order=order, due=due, actor=actor)
    ret.save()
    outbox_publish("return.received", rma=ret.rma)
    return ret


def _shipping_refunded(order: Order) -> bool:
    return (
        Return.objects.filter(order=order, shipping_refunded__gt=0)
        .exclude(status__in=[Return.Status.CANCELLED, Return.Status.REJECTED])
        .exists()
    )


# --- inspect ---------------------------------------------------------------------------------


def _check_inspection(ret: Return, rlines: dict[int, ReturnLine], inspections: list[Inspection]):
    problems: dict[int, dict] = {}
    seen = set()
    for i, item in enumerate(inspections):
        if item.line_id not in rlines or item.line_id in seen:
            problems[i] = {"line": ["Not a line of this return, or given twice."]}
        elif item.disposition == Disposition.TRANSFER and (
            item.target is None or item.target.pk == ret.location_id
        ):
            problems[i] = {"target": ["A transfer goes to another location: give its code."]}
        elif item.condition == Condition.MISSING and item.disposition != Disposition.WRITE_OFF:
            problems[i] = {"disposition": ["Units not in the parcel can only be written off."]}
        seen.add(item.line_id)
    if problems:
        raise ReturnInvalid(errors={"lines": problems})
    if ret.status == Return.Status.RECEIVED and seen != set(rlines):
        raise ReturnInvalid(errors={"lines": ["Inspect every line of the return."]})


@retry_on_conflict
@transaction.atomic
def return_inspect(*, ret: Return, inspections: list[Inspection], actor) -> Return:
    """Record per line its condition and disposition, applied to the goods at once (restock
    here, write off, transfer), and refund what is due in the same transaction (the gateway
    after commit). Until the return is completed an inspection can be corrected: what was
    applied is undone first, and a refund grows by the difference (it never shrinks: 409).
    """
    ret = return_get_for_update(rma=ret.rma)
    _check_handler(ret, actor)
    if not can_proceed(ret.inspect):
        raise ReturnStatusConflict(
            f"Return {ret.rma} is {ret.status}: only a received return can be inspected.",
            rma=ret.rma,
            status=ret.status,
        )
    rlines = {rl.order_line_id: rl for rl in ret.lines.select_related("sku").select_for_update()}
    _check_inspection(ret, rlines, inspections)
    corrected = ret.status == Return.Status.INSPECTED
    changed = []
    for item in inspections:
        rl = rlines[item.line_id]
        if item.disposition != Disposition.TRANSFER:
            item = replace(item, target=None)  # a target only means something to a transfer
        if (rl.condition, rl.disposition, rl.target_location) == (
            item.condition, item.disposition, item.target
        ):  # fmt: skip
            continue
        rl.condition, rl.disposition, rl.target_location = (
            item.condition, item.disposition, item.target
        )  # fmt: skip
        goods.goods_dispose(ret=ret, line=rl, actor=actor)
        changed.append(rl)
    ReturnLine.objects.bulk_update(
        changed,
        ["condition", "disposition", "target_location", "applied_disposition", "applied_target"],
    )
    ret.inspect()
    ret.inspected_at = timezone.now()
    order = ret.order
    order_event_return_inspected(
        order=order,
        message=f"Return {ret.rma} {'inspection corrected' if corrected else 'inspected'}",
        data={"return": ret.rma, "lines": [
            {"line": rl.order_line_id, "condition": rl.condition, "disposition": rl.disposition,
             "target": rl.target_location.code if rl.target_location else None}
            for rl in changed
        ]},
        actor=actor,
        location=ret.location,
    )  # fmt: skip
    if settings.OMS_RETURN_REFUND_ON != "receipt":
        due = refund_due(ret=ret, lines=list(rlines.values()), surplus=ret.exchange_surplus)
        return_refund(ret=ret, order=order, due=due, actor=actor)
    ret.save()
    return ret


# --- complete, reject, cancel ----------------------------------------------------------------


@transaction.atomic
def return_complete(*, ret: Return, actor) -> Return:
    """Close an inspected return: its inspection can no longer be corrected."""
    ret = return_get_for_update(rma=ret.rma)
    _check_handler(ret, actor)
    if not can_proceed(ret.complete):
        raise ReturnStatusConflict(
            f"Return {ret.rma} is {ret.status}: only an inspected return can be completed.",
            rma=ret.rma, status=ret.status,
        )  # fmt: skip
    ret.complete()
    ret.closed_at = timezone.now()
    ret.save()
    order_event_return_completed(
        order=ret.order, message=f"Return {ret.rma} completed", data={"return": ret.rma},
        actor=actor, location=ret.location,
    )  # fmt: skip
    return ret


@transaction.atomic
def return_reject(*, ret: Return, reason: str, actor) -> Return:
    """Refuse a return outside policy, before anything was refunded; goods already received
    are handed back (out of the hold, and no longer counted returned on the order)."""
    ret = return_get_for_update(rma=ret.rma)
    _check_handler(ret, actor)
    if not can_proceed(ret.reject):
        raise ReturnStatusConflict(
            f"Return {ret.rma} is {ret.status}: it can no longer be rejected.",
            rma=ret.rma, status=ret.status,
        )  # fmt: skip
    if ret.status == Return.Status.RECEIVED:
        rlines = list(ret.lines.select_related("sku").order_by("pk"))
        goods.goods_hand_back(ret=ret, lines=rlines, actor=actor)
        order_lines_returned(
            order=ret.order,
            quantities={rl.order_line_id: -rl.quantity for rl in rlines},
            reference=str(ReturnReference(rma=ret.rma)),
            actor=actor,
        )
        ret.shipping_refunded = ZERO
    ret.reject()
    ret.reject_reason = reason[:255]
    ret.closed_at = timezone.now()
    ret.save()
    order_event_return_rejected(
        order=ret.order, message=f"Return {ret.rma} rejected: {reason}",
        data={"return": ret.rma, "reason": reason}, actor=actor, location=ret.location,
    )  # fmt: skip
    return ret


@transaction.atomic
def return_cancel(*, ret: Return, actor, channel: str = "") -> Return:
    """Withdraw a return before anything was received or refunded: its units are
    returnable again. 409 once received."""
    ret = return_get_for_update(rma=ret.rma)
    if ret.opened_online and not getattr(actor, "is_superuser", False):
        if channel != ret.order.channel and not location_ids_for_user(user=actor):
            raise ReturnForbidden("Only the order's channel or store staff may cancel it.")
    elif not ret.opened_online:
        _check_handler(ret, actor)
    if not can_proceed(ret.cancel):
        raise ReturnStatusConflict(
            f"Return {ret.rma} is {ret.status}: only a requested return can be cancelled.",
            rma=ret.rma, status=ret.status,
        )  # fmt: skip
    ret.cancel()
    ret.closed_at = timezone.now()
    ret.save()
    order_event_return_cancelled(
        order=ret.order, message=f"Return {ret.rma} cancelled", data={"return": ret.rma},
        actor=actor,
    )  # fmt: skip
    return ret
