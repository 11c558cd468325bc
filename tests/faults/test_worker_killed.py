"""A real worker SIGKILLed in the middle of each kind of background work (releasing an
order, capturing at the gateway, refunding at the gateway, earning a shipment's points):
after a new worker starts and the beat's sweep re-queues what is left, the work is done
exactly once, every order is where it should be and the invariant commands find nothing.

Each scenario runs Redis, gunicorn and a worker of its own (tests/faults/harness.py) and
stops the worker at a known point inside the handler: the test holds the table the handler
writes next, or the dummy gateway records the call and then answers only after minutes.
"""

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from common.models import OutboxEvent
from customers.models import Customer, PointsEntry
from customers.selectors import customer_points_summary
from fulfillment.models import FulfillmentOrder
from inventory.models import Sku
from orders.models import Order
from orders.services.points import TOPIC_EARN
from payments.models import DummyGatewayRule, Payment, PaymentTransaction
from payments.services import TOPIC_EXECUTE
from returns.models import Return
from stores.models import Location, StaffMembership
from tests.conftest import celery_worker_stop, outbox_row_unlocked, wait_until
from tests.factories import CUSTOMER_NEAR_XUHUI, staff_client
from tests.faults.harness import (
    REDIS_PORT,
    WEB_PORT,
    RedisServer,
    TableHeld,
    WebServer,
    outbox_sweep_now,
    process_env,
    token_of,
    worker_kill,
    worker_start,
)
from tests.faults.invariants import assert_invariants_clean
from tests.fulfillment.factories import level
from tests.inventory.factories import stock_put
from tests.payments.factories import gateway_calls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

Kind = PaymentTransaction.Kind
TxStatus = PaymentTransaction.Status
PAID = Decimal("213.00")  # two tees at 99.00 and 15.00 shipping, all by card
SLOW_ANSWER = 300  # seconds the gateway takes to answer once it has done the work


@dataclass
class Stack:
    """The servers of one scenario, and the worker running now."""

    web: WebServer
    env: dict
    log_dir: Path
    worker: subprocess.Popen | None = None
    started: int = 0
    held: list[TableHeld] = field(default_factory=list)

    def start_worker(self) -> None:
        self.started += 1
        log = self.log_dir / f"worker-{self.started}.log"
        self.worker = worker_start(env=self.env, log_path=log)

    def kill_worker(self) -> None:
        worker_kill(self.worker)
        self.worker = None

    def hold(self, table: str) -> TableHeld:
        held = TableHeld(table)
        self.held.append(held)
        return held

    def release_tables(self) -> None:
        for held in self.held:
            held.release()


@pytest.fixture
def stack(tmp_path):
    broker = RedisServer(port=REDIS_PORT, log_dir=tmp_path)
    broker.start()
    env = process_env(broker=broker.url, queue=f"faults-{uuid.uuid4().hex[:8]}")
    web = WebServer(port=WEB_PORT, env=env, log_dir=tmp_path)
    servers = Stack(web=web, env=env, log_dir=tmp_path)
    try:
        servers.web.start()
        servers.start_worker()
        yield servers
    finally:
        servers.release_tables()
        if servers.worker is not None:
            celery_worker_stop(servers.worker)
        servers.web.stop()
        broker.stop()


@dataclass(frozen=True)
class Shop:
    """What every scenario sells from: one store, the tee, and the tokens of the web
    storefront and of the store's manager."""

    store: Location
    tee: Sku
    web_token: str
    staff_token: str


@pytest.fixture
def shop(web, xuhui, tee) -> Shop:
    stock_put(location=xuhui, sku=tee, on_hand=5)
    staff = staff_client(xuhui, role=StaffMembership.Role.MANAGER)
    return Shop(store=xuhui, tee=tee, web_token=token_of(web), staff_token=token_of(staff))


def _checkout(stack: Stack, shop: Shop) -> str:
    lat, lng = CUSTOMER_NEAR_XUHUI
    body = {
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "channel": "web",
        "lines": [{"sku": shop.tee.code, "quantity": 2}],
        "delivery": {
            "method": "ship",
            "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai",
                        "latitude": lat, "longitude": lng},
        },
        "payments": [{"method": "card", "gateway": "dummy", "reference": "auth_ada",
                      "amount": str(PAID)}],
    }  # fmt: skip
    key = {"Idempotency-Key": uuid.uuid4().hex}
    response = stack.web.post("/api/v1/checkout", body, token=shop.web_token, **key)
    assert response.status_code == 201, response.text
    return response.json()["number"]


def _released(number: str) -> FulfillmentOrder:
    return wait_until(
        lambda: FulfillmentOrder.objects.filter(order__number=number, status="pending").first()
    )


def _steps(stack: Stack, shop: Shop, fo: FulfillmentOrder, *actions: str) -> None:
    for action in actions:
        data = {"carrier": "SF Express", "tracking_number": "SF777"} if action == "ship" else {}
        path = f"/api/v1/fulfillment-orders/{fo.pk}/{action}"
        answer = stack.web.post(path, data, token=shop.staff_token)
        assert answer.status_code == 200, answer.text


def _all_processed() -> bool:
    return not OutboxEvent.objects.filter(processed_at__isnull=True).exists()


def _transaction(number: str, kind: str) -> PaymentTransaction:
    return wait_until(
        lambda: PaymentTransaction.objects.filter(payment__demand=number, kind=kind).first()
    )


def _status(tx: PaymentTransaction) -> str:
    return PaymentTransaction.objects.values_list("status", flat=True).get(pk=tx.pk)


def _execute_event(tx: PaymentTransaction) -> OutboxEvent:
    return OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=tx.pk)


def _slow_gateway(operation: str) -> None:
    """The next `operation` at the dummy gateway is done and recorded, then answered only
    after SLOW_ANSWER seconds: the worker is inside the handler, its outcome not written."""
    DummyGatewayRule.objects.create(
        behaviour=DummyGatewayRule.Behaviour.SLOW,
        operation=operation,
        seconds=SLOW_ANSWER,
        remaining=1,
    )


@dataclass
class Stuck:
    """A worker stopped inside a handler: the event it was processing, what must not have
    happened yet, what must have happened exactly once in the end, and every order with
    the status it must end in."""

    event: OutboxEvent
    not_done: Callable[[], None]
    done_once: Callable[[], None]
    orders: dict[str, str]


def _release(stack: Stack, shop: Shop) -> Stuck:
    """The order row locked by the release, its fulfillment order not yet written."""
    held = stack.hold("fulfillment_fulfillmentorder")
    number = _checkout(stack, shop)
    wait_until(held.waited_for)

    def not_done() -> None:
        assert not FulfillmentOrder.objects.filter(order__number=number).exists()
        assert Order.objects.get(number=number).status == Order.Status.PLACED

    def done_once() -> None:
        [fo] = FulfillmentOrder.objects.filter(order__number=number)
        assert (fo.location_id, fo.status) == (shop.store.pk, FulfillmentOrder.Status.PENDING)
        assert level(shop.store, shop.tee) == (5, 2)

    event = OutboxEvent.objects.get(topic="order.placed", payload__number=number)
    return Stuck(event, not_done, done_once, {number: Order.Status.PROCESSING})


def _capture(stack: Stack, shop: Shop) -> Stuck:
    """The gateway captured (its own records say so); the worker has not heard back."""
    number = _checkout(stack, shop)
    fo = _released(number)
    _steps(stack, shop, fo, "accept", "pick", "pack")
    _slow_gateway(Kind.CAPTURE)
    _steps(stack, shop, fo, "ship")
    capture = _transaction(number, Kind.CAPTURE)
    wait_until(lambda: gateway_calls(operation=Kind.CAPTURE, key=capture.gateway_key) == 1)

    def not_done() -> None:
        assert _status(capture) == TxStatus.PENDING
        assert Payment.objects.get(demand=number).captured == 0

    def done_once() -> None:
        assert _status(capture) == TxStatus.SUCCEEDED
        assert gateway_calls(operation=Kind.CAPTURE, key=capture.gateway_key, effective=True) == 1
        assert Payment.objects.get(demand=number).captured == PAID

    return Stuck(_execute_event(capture), not_done, done_once, {number: Order.Status.FULFILLED})


def _refund(stack: Stack, shop: Shop) -> Stuck:
    """A return inspected at the store: the gateway refunded; the worker has not heard back."""
    number = _checkout(stack, shop)
    fo = _released(number)
    _steps(stack, shop, fo, "accept", "pick", "pack", "ship")
    wait_until(_all_processed)  # captured
    line = Order.objects.get(number=number).lines.get()
    _slow_gateway(Kind.REFUND)
    opened = stack.web.post(
        "/api/v1/returns",
        {"order": number, "location": shop.store.code,
         "lines": [{"line": line.pk, "quantity": 2, "reason": "too small"}]},
        token=shop.staff_token, **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    rma = opened.json()["rma"]
    inspected = stack.web.post(
        f"/api/v1/returns/{rma}/inspect",
        {"lines": [{"line": line.pk, "condition": "resalable", "disposition": "restock"}]},
        token=shop.staff_token,
    )
    assert inspected.status_code == 200, inspected.text
    refund = _transaction(number, Kind.REFUND)
    wait_until(lambda: gateway_calls(operation=Kind.REFUND, key=refund.gateway_key) == 1)

    def not_done() -> None:
        assert _status(refund) == TxStatus.PENDING
        assert Payment.objects.get(demand=number).refunded == 0

    def done_once() -> None:
        assert _status(refund) == TxStatus.SUCCEEDED
        assert gateway_calls(operation=Kind.REFUND, key=refund.gateway_key, effective=True) == 1
        assert Payment.objects.get(demand=number).refunded == PAID
        assert Return.objects.get(rma=rma).status == Return.Status.INSPECTED
        assert Order.objects.get(number=number).return_status == Order.ReturnStatus.RETURNED
        assert level(shop.store, shop.tee) == (5, 0)  # back on the shelf

    return Stuck(_execute_event(refund), not_done, done_once, {number: Order.Status.FULFILLED})


def _points_earn(stack: Stack, shop: Shop) -> Stuck:
    """The shipment's points: the account row locked by the earn, its entry not written."""
    number = _checkout(stack, shop)
    fo = _released(number)
    _steps(stack, shop, fo, "accept", "pick", "pack")
    wait_until(_all_processed)  # its points pending
    held = stack.hold("customers_pointsentry")
    _steps(stack, shop, fo, "ship")
    wait_until(held.waited_for)
    ada = Customer.objects.get(email="ada@example.com")

    def not_done() -> None:
        assert not PointsEntry.objects.filter(customer=ada, kind=PointsEntry.Kind.EARN).exists()
        assert customer_points_summary(ada)["balance"] == 0

    def done_once() -> None:
        assert PointsEntry.objects.filter(customer=ada, kind=PointsEntry.Kind.EARN).count() == 1
        points = customer_points_summary(ada)
        assert (points["balance"], points["pending"]) == (198, 0)  # 198.00 paid for the tees

    event = OutboxEvent.objects.get(topic=TOPIC_EARN, payload__number=number)
    return Stuck(event, not_done, done_once, {number: Order.Status.FULFILLED})


SCENARIOS = {
    "release": _release,
    "capture": _capture,
    "refund": _refund,
    "points_earn": _points_earn,
}


@pytest.mark.parametrize("kind", SCENARIOS)
def test_work_of_a_worker_killed_mid_handler_is_done_once_by_the_next_worker(kind, stack, shop):
    stuck = SCENARIOS[kind](stack, shop)

    stack.kill_worker()
    stack.release_tables()  # the dead worker's session goes on, finds its client gone, aborts
    wait_until(lambda: outbox_row_unlocked(stuck.event.pk))
    stuck.event.refresh_from_db()
    assert (stuck.event.processed_at, stuck.event.attempts) == (None, 1)  # the killed run
    stuck.not_done()

    stack.start_worker()
    assert outbox_sweep_now(env=stack.env) >= 1
    wait_until(_all_processed, timeout=60)

    stuck.event.refresh_from_db()
    assert (stuck.event.attempts, stuck.event.last_error) == (2, "")
    stuck.done_once()
    assert outbox_sweep_now(env=stack.env) == 0  # nothing left behind
    assert dict(Order.objects.values_list("number", "status")) == stuck.orders
    assert_invariants_clean()
