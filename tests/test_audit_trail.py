"""Every staff action on stock, orders, pickups, returns, payments and points leaves a record
with the person who took it: one timeline event (`OrderEvent`) or one ledger row (a stock
movement, a points entry, a payment transaction, a customer event, a transfer).

The table names each service that the admin (`*/admin.py`, the fulfillment buttons of
`fulfillment/staff_actions.py`) and the staff API views call; a service referenced there
without a row fails, naming itself. Each row calls its service as a named member of staff,
the way the admin or the API calls it, and finds exactly one new record of the expected kind
that carries them.
"""

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Model

from common.tokens import channel_user_get_or_create
from customers.models import CustomerEvent, PointsEntry
from customers.points import points_adjust
from customers.services import customer_get_or_create, customer_merge
from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions, transfers
from fulfillment.services.pickup_codes import pickup_code_issue
from inventory import services as stock
from inventory.models import StockMovement, Transfer
from inventory.services.imports import movement_import_batch
from orders.models import OrderEvent
from orders.services.lifecycle import order_cancel, order_line_cancel
from payments.models import DummyGatewayRule, PaymentTransaction
from payments.services import (
    capture_retry,
    payment_capture,
    payment_void,
    refund_issue,
    refund_retry,
    void_retry,
)
from returns.models import Return
from returns.services.codes import return_code_unlock
from returns.services.lifecycle import (
    Inspection,
    ReturnLineRequest,
    ReturnRequest,
    return_cancel,
    return_complete,
    return_inspect,
    return_open,
    return_receive,
    return_reject,
)
from stores.models import Location, StaffMembership
from tests.factories import place_order, staff_member
from tests.payments.factories import captured_card, card, deliver

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role
ROOT = Path(__file__).resolve().parent.parent
APPS = ["stores", "inventory", "customers", "payments", "orders", "fulfillment", "returns"]
# Where staff reach services: the admin of every app, the staff API views, the buttons.
ENTRY_POINTS = [
    *[f"{app}/admin.py" for app in APPS],
    *[f"{app}/views.py" for app in APPS],
    "fulfillment/staff_actions.py",
    "common/admin.py",
    "common/workspace.py",
]
# Services those files reference that are no staff action on stock, orders, pickups,
# returns, payments or points, each with why.
NOT_AUDITED = {
    "checkout_request_complete": "validates a checkout request; writes nothing",
    "customer_get_or_create": "finds the customer a channel names; enrolment is not staff's",
    "customer_enrol": "a customer's membership, not stock, money or points",
    "customer_update": "a customer's contact details, kept in the admin's history",
    "fulfillment_customer_arrived": "the customer's own step, from the storefront",
    "location_settings_errors": "validates a store's settings; writes nothing",
    "location_update_settings": "a store's settings, kept in the admin's history",
    "order_totals_display": "reads an order's money",
    "pickup_code_attempts_left": "reads a pickup's code tries",
    "sku_sync_batch": "the catalogue (names and prices), not stock",
}


def _service_functions() -> dict[str, Callable]:
    """The public functions of every app's `services` (and `points`) modules, by name."""
    found = {}
    for app in APPS:
        for name in ("services", "points"):
            try:
                module = importlib.import_module(f"{app}.{name}")
            except ModuleNotFoundError:
                continue
            modules = [module]
            if hasattr(module, "__path__"):
                modules += [importlib.import_module(f"{module.__name__}.{info.name}")
                            for info in pkgutil.iter_modules(module.__path__)]  # fmt: skip
            for each in modules:
                for fname, value in vars(each).items():
                    if (inspect.isfunction(value) and not fname.startswith("_")
                            and value.__module__ == each.__name__):  # fmt: skip
                        found.setdefault(fname, value)
    return found


def staff_callable_services() -> set[str]:
    """The services named (called, or put in a table of buttons) by the staff entry points."""
    services = _service_functions()
    named = set()
    for path in ENTRY_POINTS:
        if not (ROOT / path).exists():
            continue
        tree = ast.parse((ROOT / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                named.add(node.id)
            elif isinstance(node, ast.Attribute):
                named.add(node.attr)
    return named & services.keys()


# --- the world -----------------------------------------------------------------------------


@dataclass
class World:
    store: object  # store A (Xuhui), where the staff below work
    other: object  # store B (Pudong)
    warehouse: object  # Kunshan, its operator
    sku: object
    only_at_warehouse: object  # a SKU only the warehouse has
    staff: dict
    capture: Callable

    def pickup(self, *, key: str, quantity: int = 1) -> FulfillmentOrder:
        """A pickup order at store A released to it (a pending fulfillment order)."""
        with self.capture(execute=True):
            order = place_order([(self.sku, quantity)], location=self.store, key=key)
        return FulfillmentOrder.objects.get(order=order)

    def shipment(self, *, key: str) -> FulfillmentOrder:
        """A ship order released to the warehouse (the stores do not ship)."""
        Location.objects.filter(pk__in=[self.store.pk, self.other.pk]).update(can_ship=False)
        with self.capture(execute=True):
            order = place_order([(self.sku, 1)], method="ship", key=key)
        return FulfillmentOrder.objects.get(order=order, location=self.warehouse)

    def ready(self, *, key: str) -> FulfillmentOrder:
        fo = self.pickup(key=key)
        for step in (actions.fulfillment_accept, actions.fulfillment_pick,
                     actions.fulfillment_ready):  # fmt: skip
            fo = step(fulfillment_order=fo)
        return fo

    def handed_over(self, *, key: str) -> FulfillmentOrder:
        fo = self.ready(key=key)
        return actions.fulfillment_handover(
            fulfillment_order=fo, code=pickup_code_issue(fulfillment_order=fo)
        )

    def returned(self, *, key: str, at_counter: bool = True) -> Return:
        """A return of the one unit of a handed-over pickup, opened by a system caller:
        received at store A's counter, or requested online."""
        fo = self.handed_over(key=key)
        line = fo.order.lines.get()
        request = ReturnRequest(
            order=fo.order,
            lines=[ReturnLineRequest(line_id=line.pk, quantity=1, reason="too small")],
            location=self.store if at_counter else None,
        )
        opener = {"actor": self.staff["clerk"]}
        if not at_counter:  # an online return is opened by the order's own channel
            opener = {"actor": channel_user_get_or_create(channel="web"), "channel": "web"}
        with self.capture(execute=True):
            return return_open(request=request, **opener)


@pytest.fixture
def world(xuhui, pudong, kunshan, tee, mug, django_capture_on_commit_callbacks):
    for location in (xuhui, pudong, kunshan):
        stock.stock_receive(location=location, sku=tee, quantity=20)
    stock.stock_receive(location=kunshan, sku=mug, quantity=5)
    staff = {
        "associate": staff_member(xuhui),
        "manager": staff_member(xuhui, role=Role.MANAGER),
        "operator": staff_member(kunshan, role=Role.OPERATOR),
        "superuser": get_user_model().objects.create_superuser("root", "root@example.com"),
        # Who set up what the actor then acts on: never the actor of a row.
        "clerk": staff_member(xuhui, role=Role.MANAGER),
    }
    return World(xuhui, pudong, kunshan, tee, mug, staff, django_capture_on_commit_callbacks)


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    act: Callable[[World, object], object]  # calls the service as the given user
    record: type[Model]  # where its record is
    kind: str  # the record's kind (its `kind` or `reason`)
    role: str = "manager"  # who acts
    # The gateway reads its rules on a connection of its own: only committed ones count.
    committed: bool = False


def _kind_field(model: type[Model]) -> str:
    return "reason" if model is StockMovement else "kind"


def _fo_step(service, *before, ship: bool = False, **kwargs):
    """A fulfillment button on a pickup (or a shipment) brought to just before it by the
    system."""

    def act(w: World, user):
        key = f"audit-{service.__name__}"
        fo = w.shipment(key=key) if ship else w.pickup(key=key)
        for step in before:
            fo = step(fulfillment_order=fo)
        return service(fulfillment_order=fo, actor=user, **kwargs)

    return act


def _handover_with_code(w: World, user):
    fo = w.ready(key="audit-handover")
    code = pickup_code_issue(fulfillment_order=fo)
    return actions.fulfillment_handover(fulfillment_order=fo, code=code, actor=user)


def _handover_override(w: World, user):
    fo = w.ready(key="audit-override")
    return actions.fulfillment_handover(
        fulfillment_order=fo, override_reason="customer forgot the code", actor=user
    )


def _resend_code(w: World, user):
    fo = w.ready(key="audit-resend")
    return actions.fulfillment_resend_code(fulfillment_order=fo, actor=user)


def _receive_at_pickup_store(w: World, user):
    with w.capture(execute=True):
        order = place_order(
            [(w.only_at_warehouse, 1)], location=w.store, ship_to_store=True, key="audit-sts"
        )
    leg = FulfillmentOrder.objects.filter(order=order).exclude(location=w.store).get()
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_pack):
        leg = step(fulfillment_order=leg)
    with w.capture(execute=True):
        leg = actions.fulfillment_ship(fulfillment_order=leg, carrier="SF", tracking_number="1")
    return transfers.fulfillment_receive(fulfillment_order=leg, actor=user)


def _movement(reason: str, quantity: int):
    def act(w: World, user):
        return stock.stock_movement_record(
            location=w.store, sku=w.sku, reason=reason, quantity=quantity,
            origin=stock.MovementOrigin(actor=user, note="audit"),
        )  # fmt: skip

    return act


def _hold_damaged(w: World, user):
    return stock.stock_hold_damaged(
        location=w.store, sku=w.sku, quantity=1, reference="", actor=user, note="torn"
    )


def _hold_release(w: World, user):
    stock.stock_hold_damaged(location=w.store, sku=w.sku, quantity=1, reference="", note="")
    return stock.stock_hold_release(
        location=w.store, sku=w.sku, quantity=1, disposition=stock.HoldDisposition.RESTOCK,
        reference="", actor=user, note="fine after all",
    )  # fmt: skip


def _safety_stock(w: World, user):
    return stock.stock_set_safety_stock(
        location=w.store, sku=w.sku, safety_stock=3, actor=user, note="promo"
    )


def _import(w: World, user):
    row = {"source": "pos-1", "external_id": "r-1", "location": w.store.code, "sku": w.sku.code,
           "reason": "receipt", "quantity": 2}  # fmt: skip
    [result] = movement_import_batch(rows=[row], actor=user, location_ids=None)
    assert result["status"] == "applied", result


def _transfer_request(w: World, user):
    return stock.transfer_request(
        from_location=w.warehouse, to_location=w.store, sku=w.sku, quantity=2, actor=user
    )


def _requested(w: World) -> Transfer:
    return _transfer_request(w, w.staff["clerk"])


def _transfer_ship(w: World, user):
    return stock.transfer_ship(transfer=_requested(w), actor=user)


def _transfer_decline(w: World, user):
    return stock.transfer_decline(transfer=_requested(w), actor=user, reason="none spare")


def _transfer_receive(w: World, user):
    transfer = stock.transfer_ship(transfer=_requested(w), actor=w.staff["operator"])
    return stock.transfer_receive(transfer=transfer, actor=user)


def _till_sale(w: World, user):
    """A sale at the till of store A, rung up by a member of staff through the store app."""
    with w.capture(execute=True):
        return place_order(
            [(w.sku, 1)], channel="store", method="carry_out", location=w.store, actor=user,
            key="audit-till",
        )  # fmt: skip


def _order_cancel(w: World, user):
    fo = w.pickup(key="audit-cancel")
    return order_cancel(order=fo.order, actor=user, reason="changed mind")


def _line_cancel(w: World, user):
    fo = w.pickup(key="audit-line-cancel", quantity=2)
    line = fo.order.lines.get()
    return order_line_cancel(order=fo.order, line_id=line.pk, quantity=1, actor=user)


def _return_open(w: World, user):
    fo = w.handed_over(key="audit-open")
    line = fo.order.lines.get()
    request = ReturnRequest(
        order=fo.order,
        lines=[ReturnLineRequest(line_id=line.pk, quantity=1, reason="too small")],
        location=w.store,
    )
    return return_open(request=request, actor=user)


def _return_receive(w: World, user):
    ret = w.returned(key="audit-receive", at_counter=False)
    return return_receive(ret=ret, location=w.store, actor=user)


def _return_inspect(w: World, user):
    ret = w.returned(key="audit-inspect")
    [line] = ret.lines.all()
    inspection = Inspection(
        line_id=line.order_line_id, condition="resalable", disposition="restock"
    )
    return return_inspect(ret=ret, inspections=[inspection], actor=user)


def _return_complete(w: World, user):
    ret = w.returned(key="audit-complete")
    [line] = ret.lines.all()
    inspection = Inspection(
        line_id=line.order_line_id, condition="resalable", disposition="restock"
    )
    with w.capture(execute=True):
        ret = return_inspect(ret=ret, inspections=[inspection], actor=w.staff["clerk"])
    ret.refresh_from_db()
    return return_complete(ret=ret, actor=user)


def _return_reject(w: World, user):
    ret = w.returned(key="audit-reject")
    return return_reject(ret=ret, reason="worn", actor=user)


def _return_cancel(w: World, user):
    ret = w.returned(key="audit-cancel", at_counter=False)
    return return_cancel(ret=ret, actor=user)


def _return_code_unlock(w: World, user):
    ret = w.returned(key="audit-code-unlock")
    Return.objects.filter(pk=ret.pk).update(code_failures=2)  # two wrong codes typed
    ret.refresh_from_db()
    return return_code_unlock(ret=ret, actor=user)


def _points_adjust(w: World, user):
    customer = customer_get_or_create(email="points@example.com", phone=None, name="P")
    return points_adjust(customer=customer, points=50, reason="goodwill", actor=user,
                         source="adjust/audit")  # fmt: skip


def _customer_merge(w: World, user):
    survivor = customer_get_or_create(email="one@example.com", phone=None, name="One")
    merged = customer_get_or_create(email="two@example.com", phone=None, name="Two")
    return customer_merge(survivor=survivor, merged=merged, actor=user)


def _failed(kind: str) -> PaymentTransaction:
    """A failed capture, void or refund of a card payment: the gateway declined it."""
    rule = DummyGatewayRule.objects.create(behaviour=DummyGatewayRule.Behaviour.DECLINE)
    if kind == PaymentTransaction.Kind.REFUND:
        rule.delete()
        payment = captured_card(amount="100.00")
        rule = DummyGatewayRule.objects.create(behaviour=DummyGatewayRule.Behaviour.DECLINE)
        [tx] = refund_issue(payments=[payment], amount=Decimal("5.00"), reason="late", key="r-1")
    elif kind == PaymentTransaction.Kind.CAPTURE:
        tx = payment_capture(payment=card(amount="100.00"), amount=Decimal("40.00"), key="c-1")
    else:
        tx = payment_void(payment=card(amount="100.00"), key="v-1", reason="cancelled")
    deliver()
    rule.delete()
    tx.refresh_from_db()
    assert tx.status == PaymentTransaction.Status.FAILED, tx.error
    return tx


def _retry(service, kind: str):
    def act(w: World, user):
        return service(transaction=_failed(kind), actor=user)

    return act


A = actions
Kind = OrderEvent.Kind
Reason = StockMovement.Reason
TxKind = PaymentTransaction.Kind
# service (a variant in brackets) -> how staff call it and the record it leaves.
AUDIT: dict[str, Row] = {
    "fulfillment_accept": Row(
        _fo_step(A.fulfillment_accept), OrderEvent, Kind.ACCEPTED, "associate"
    ),
    "fulfillment_reject": Row(
        _fo_step(A.fulfillment_reject, reason="out_of_stock", note="shelf empty"),
        OrderEvent,
        Kind.REJECTED,
        "associate",
    ),
    "fulfillment_pick": Row(
        _fo_step(A.fulfillment_pick, A.fulfillment_accept), OrderEvent, Kind.PICKED, "associate"
    ),
    "fulfillment_pack": Row(
        _fo_step(A.fulfillment_pack, A.fulfillment_accept, A.fulfillment_pick, ship=True),
        OrderEvent,
        Kind.PACKED,
        "operator",
    ),
    "fulfillment_ship": Row(
        _fo_step(
            A.fulfillment_ship,
            A.fulfillment_accept,
            A.fulfillment_pick,
            A.fulfillment_pack,
            ship=True,
            carrier="SF Express",
            tracking_number="SF1",
        ),
        OrderEvent,
        Kind.SHIPPED,
        "operator",
    ),
    "fulfillment_ready": Row(
        _fo_step(A.fulfillment_ready, A.fulfillment_accept, A.fulfillment_pick),
        OrderEvent,
        Kind.READY_FOR_PICKUP,
        "associate",
    ),
    "fulfillment_handover": Row(_handover_with_code, OrderEvent, Kind.HANDED_OVER, "associate"),
    "fulfillment_handover[override]": Row(_handover_override, OrderEvent, Kind.HANDED_OVER),
    "fulfillment_resend_code": Row(_resend_code, OrderEvent, Kind.PICKUP_CODE_RESENT, "associate"),
    "fulfillment_receive": Row(
        _receive_at_pickup_store, OrderEvent, Kind.TRANSFER_RECEIVED, "associate"
    ),
    "stock_movement_record": Row(_movement(Reason.RECEIPT, 5), StockMovement, Reason.RECEIPT),
    "stock_movement_record[adjustment]": Row(
        _movement(Reason.ADJUSTMENT, -2), StockMovement, Reason.ADJUSTMENT
    ),
    "stock_movement_record[write_off]": Row(
        _movement(Reason.WRITE_OFF, 1), StockMovement, Reason.WRITE_OFF
    ),
    "stock_movement_record[cycle_count]": Row(
        _movement(Reason.CYCLE_COUNT, 17), StockMovement, Reason.CYCLE_COUNT
    ),
    "stock_movement_record[pos_sale]": Row(
        _movement(Reason.POS_SALE, 1), StockMovement, Reason.POS_SALE, "associate"
    ),
    "stock_hold_damaged": Row(_hold_damaged, StockMovement, Reason.DAMAGED),
    "stock_hold_release": Row(_hold_release, StockMovement, Reason.RETURN_RESTOCK),
    "stock_set_safety_stock": Row(_safety_stock, StockMovement, Reason.SAFETY_STOCK),
    "movement_import_batch": Row(_import, StockMovement, Reason.RECEIPT, "superuser"),
    "transfer_request": Row(_transfer_request, Transfer, Transfer.Status.REQUESTED),
    "transfer_ship": Row(_transfer_ship, StockMovement, Reason.TRANSFER_OUT, "operator"),
    "transfer_decline": Row(_transfer_decline, Transfer, Transfer.Status.DECLINED, "operator"),
    "transfer_receive": Row(_transfer_receive, StockMovement, Reason.TRANSFER_IN),
    "checkout": Row(_till_sale, OrderEvent, Kind.PLACED, "associate"),
    "order_cancel": Row(_order_cancel, OrderEvent, Kind.CANCELLED, "associate"),
    "order_line_cancel": Row(_line_cancel, OrderEvent, Kind.LINE_CANCELLED, "associate"),
    "return_open": Row(_return_open, OrderEvent, Kind.RETURN_RECEIVED, "associate"),
    "return_receive": Row(_return_receive, OrderEvent, Kind.RETURN_RECEIVED, "associate"),
    "return_inspect": Row(_return_inspect, OrderEvent, Kind.RETURN_INSPECTED, "associate"),
    "return_complete": Row(_return_complete, OrderEvent, Kind.RETURN_COMPLETED, "associate"),
    "return_reject": Row(_return_reject, OrderEvent, Kind.RETURN_REJECTED, "associate"),
    "return_cancel": Row(_return_cancel, OrderEvent, Kind.RETURN_CANCELLED, "associate"),
    "return_code_unlock": Row(_return_code_unlock, OrderEvent, Kind.RETURN_CODE_UNLOCKED),
    "points_adjust": Row(_points_adjust, PointsEntry, PointsEntry.Kind.ADJUST),
    "customer_merge": Row(_customer_merge, CustomerEvent, CustomerEvent.Kind.MERGED_IN),
    "capture_retry": Row(
        _retry(capture_retry, TxKind.CAPTURE),
        PaymentTransaction,
        TxKind.CAPTURE,
        "superuser",
        committed=True,
    ),
    "void_retry": Row(
        _retry(void_retry, TxKind.VOID),
        PaymentTransaction,
        TxKind.VOID,
        "superuser",
        committed=True,
    ),
    "refund_retry": Row(
        _retry(refund_retry, TxKind.REFUND),
        PaymentTransaction,
        TxKind.REFUND,
        "superuser",
        committed=True,
    ),
}


def _records(row: Row, user) -> set[int]:
    """The records of the row's kind that name `user`."""
    if row.record is Transfer:  # a transfer names who asked for it and who declined it
        who = "declined_by" if row.kind == Transfer.Status.DECLINED else "requested_by"
        rows = Transfer.objects.filter(status=row.kind, **{who: user})
    else:
        rows = row.record.objects.filter(actor=user, **{_kind_field(row.record): row.kind})
    return set(rows.values_list("pk", flat=True))


def test_every_service_staff_can_call_has_a_row():
    audited = {name.split("[")[0] for name in AUDIT}
    missing = staff_callable_services() - audited - NOT_AUDITED.keys()
    stale = audited - staff_callable_services()
    assert missing == set(), f"staff-callable services with no row in AUDIT: {sorted(missing)}"
    assert stale == set(), f"rows of services no admin page or staff view calls: {sorted(stale)}"


def _leaves_one_record(service: str, world: World) -> None:
    row = AUDIT[service]
    user = world.staff[row.role]
    before = _records(row, user)

    with world.capture(execute=True):
        row.act(world, user)

    new = _records(row, user) - before
    assert len(new) == 1, f"{service}: {len(new)} new {row.record.__name__} {row.kind} by {user}"


@pytest.mark.parametrize("service", sorted(s for s, row in AUDIT.items() if not row.committed))
def test_each_staff_action_leaves_one_record_that_names_who_took_it(service, world):
    _leaves_one_record(service, world)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("service", sorted(s for s, row in AUDIT.items() if row.committed))
def test_each_retry_at_the_gateway_names_who_sent_it_again(service, world):
    _leaves_one_record(service, world)
