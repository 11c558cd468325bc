"""Checkout on one hot SKU at one store: the whole checkout next to its stock_reserve floor.

At each client count, N clients (threads, or processes with --processes), each with its own
database connection, start together behind a barrier and call one workload in a loop for
--seconds (or --max-ops calls). Four workloads run at each level, all on the same hot
(store, SKU) row, one order (or reserve) per call:

  reserve  inventory.services.stock_reserve of 1 unit (the floor; as reserve_hot_sku.py,
           with the delivery method a pickup checkout passes)
  service  orders.services.checkout.checkout: a 1-line pickup order at the store, a fresh
           Idempotency-Key per call, the customers taken in turn
  API      the same order as POST /api/v1/checkout through Django's test Client with a
           web-channel token
  N-line   the service with --lines SKUs at the store, the hot SKU among them

Tasks run in process (as in the embedded mode and the tests), so a checkout's figure also
holds its after-commit outbox work: the order released to the store as a fulfillment order
and the store's new-order email (to memory). The ratios service / reserve and API / service
are the figures to compare across machines. The run ends with `manage.py verify_stock` and
counts: orders equal the successful checkouts, the hot row's reserved equals every unit
reserved, every outbox event processed. The exit status is 1 when any of them does not hold.
"""

import argparse
import json
import logging
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import harness
import reserve_hot_sku as reserve
from reserve_hot_sku import HotRow, Level

CUSTOMER_DOMAIN = "bench.example.com"


@dataclass(frozen=True)
class Shop:
    """The hot store and the SKUs an order takes there, the hot SKU first."""

    store_id: int
    store_code: str
    sku_ids: tuple[int, ...]
    emails: tuple[str, ...]

    @property
    def hot(self) -> HotRow:
        return HotRow(self.store_id, self.sku_ids[0], f"SKU {self.sku_ids[0]} at {self.store_code}")


@dataclass(frozen=True)
class Workload:
    name: str
    lines: int  # SKUs per order; 0 for the bare reserve
    make_client: Callable[[str], Callable[[], bool]]  # from a name unique to the client


class CheckoutClient:
    """A storefront backend: each call places one pickup order of 1 unit per SKU.

    `reserved` counts the units taken from the hot row, one per order placed.
    """

    def __init__(self, shop: Shop, *, lines: int) -> None:
        from inventory.models import Sku
        from stores.models import Location

        by_pk = Sku.objects.in_bulk(shop.sku_ids[:lines])
        self.skus = [by_pk[pk] for pk in shop.sku_ids[:lines]]
        self.store = Location.objects.get(pk=shop.store_id)
        self.emails = shop.emails
        self.calls = 0
        self.reserved = 0

    def body(self) -> dict:
        """The checkout as a storefront sends it; the next customer in turn."""
        email = self.emails[self.calls % len(self.emails)]
        return {
            "customer": {"email": email, "name": email.split("@")[0]},
            "channel": "web",
            "lines": [{"sku": sku.code, "quantity": 1} for sku in self.skus],
            "delivery": {"method": "pickup", "location": self.store.code},
        }

    def close(self) -> None:
        from django.db import connection

        connection.close()


class CheckoutServiceClient(CheckoutClient):
    """`checkout(...)` as CheckoutView calls it, with the objects the view's input holds."""

    def __init__(self, shop: Shop, *, lines: int) -> None:
        super().__init__(shop, lines=lines)
        from common import idempotency
        from common.tokens import channel_user_get_or_create
        from inventory.errors import InsufficientStock
        from orders import views
        from orders.services import checkout as service

        self.service = service
        self.idempotency = idempotency
        self.checkout = views.checkout_idempotent
        self.shortage = InsufficientStock
        self.actor = channel_user_get_or_create(channel="web")
        self.lines = [service.CheckoutLine(sku=sku, quantity=1) for sku in self.skus]

    def __call__(self) -> bool:
        body = self.body()
        self.calls += 1
        request = self.service.CheckoutRequest(
            channel="web",
            method="pickup",
            lines=self.lines,
            email=body["customer"]["email"],
            name=body["customer"]["name"],
            location=self.store,
        )
        try:
            result = self.checkout(
                request=request,
                key=self.idempotency.IdempotencyKey(
                    actor=self.actor,
                    key=uuid.uuid4().hex,
                    fingerprint=self.idempotency.request_fingerprint(body),
                ),
            )
        except self.shortage:
            return False
        if result.status != 201 or result.replayed:
            raise RuntimeError(f"checkout answered {result.status}: {result.body}")
        self.reserved += 1
        return True


class CheckoutApiClient(CheckoutClient):
    """POST /api/v1/checkout through Django's test Client: middleware, auth, serializers."""

    def __init__(self, shop: Shop, *, lines: int, token: str) -> None:
        super().__init__(shop, lines=lines)
        from django.test import Client

        self.client = Client(headers={"authorization": f"Token {token}"})

    def __call__(self) -> bool:
        payload = json.dumps(self.body())
        self.calls += 1
        response = self.client.post(
            "/api/v1/checkout",
            payload,
            content_type="application/json",
            secure=True,
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        if response.status_code == 409 and response.json().get("code") == "insufficient_stock":
            return False
        if response.status_code != 201:
            raise RuntimeError(
                f"POST /api/v1/checkout -> {response.status_code}: {response.content[:500]!r}"
            )
        self.reserved += 1
        return True


def prepare_shop(*, skus: int, stock: int, safety_stock: int, customers: int) -> Shop:
    """One demo store with its staff (who get the new-order email), `skus` demo SKUs stocked
    there through the services, and the customers, who have all ordered before."""
    from customers.services import customer_get_or_create
    from inventory.demo import seed_skus
    from inventory.models import Sku
    from inventory.services import stock_set_safety_stock
    from stores.demo import seed_locations, seed_staff
    from stores.models import Location

    seed_locations(stores=1, warehouses=0)
    seed_staff(stores=1, limit=1)
    seed_skus(count=skus)
    store = Location.objects.get()
    sku_list = list(Sku.objects.order_by("pk"))
    for sku in sku_list:
        harness.stock_up(location=store, sku=sku, quantity=stock)
        stock_set_safety_stock(location=store, sku=sku, safety_stock=safety_stock)
    emails = tuple(f"customer{n}@{CUSTOMER_DOMAIN}" for n in range(1, customers + 1))
    for email in emails:
        customer_get_or_create(email=email, name=email.split("@")[0])
    return Shop(store.pk, store.code, tuple(sku.pk for sku in sku_list), emails)


def workloads(args: argparse.Namespace, shop: Shop, token: str) -> list[Workload]:
    found = [
        Workload(
            "reserve",
            0,
            lambda name: reserve.ServiceClient(shop.hot, name, delivery_method="pickup"),
        ),
        Workload("service", 1, lambda name: CheckoutServiceClient(shop, lines=1)),
        Workload("API", 1, lambda name: CheckoutApiClient(shop, lines=1, token=token)),
    ]
    if args.lines > 1:
        found.append(
            Workload(
                f"{args.lines}-line",
                args.lines,
                lambda name: CheckoutServiceClient(shop, lines=args.lines),
            )
        )
    return found


@dataclass
class Totals:
    """What the clients say they did, over the whole run (warm-up calls included)."""

    hot_units: int = 0
    orders: int = 0
    other_units: int = 0  # on each SKU of the N-line order but the hot one


def order_count() -> int:
    from orders.models import Order

    return Order.objects.count()


def store_reservations(shop: Shop) -> int:
    """Reservations the store took: a checkout's snapshot reads today's to count ship orders."""
    from inventory.models import Reservation

    return Reservation.objects.filter(location_id=shop.store_id).count()


def measure(workload: Workload, shop: Shop, clients: int, budget: dict, tag: str) -> Level:
    _, reserved_before, active_before = reserve.hot_row_state(shop.hot)
    orders_before = order_count()
    level = reserve.run_level(
        lambda index: workload.make_client(f"bench-{workload.name}-{tag}-{index}"),
        clients=clients,
        **budget,
    )
    _, reserved_after, active_after = reserve.hot_row_state(shop.hot)
    orders_after = order_count()
    what = f"{workload.name}, {clients} clients"
    moved, active = reserved_after - reserved_before, active_after - active_before
    if not moved == active == level.reserved:
        level.problems.append(
            f"{what}: reserved moved by {moved}, active reservations by {active}, "
            f"clients counted {level.reserved}"
        )
    expected_orders = level.reserved if workload.lines else 0
    if orders_after - orders_before != expected_orders:
        level.problems.append(
            f"{what}: {orders_after - orders_before} new orders, clients placed {expected_orders}"
        )
    if level.failed:
        level.problems.append(f"{what}: {level.failed} found no stock")
    return level


def forget_emails() -> None:
    """The in-memory mailbox would grow all run long; the count that matters is in the
    database (an event per store alert)."""
    from django.core import mail

    if hasattr(mail, "outbox"):
        mail.outbox.clear()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_arguments(
        parser, clients="1,4,16", seconds=3.0, call="calls", stock="each SKU"
    )
    parser.add_argument(
        "--lines", type=int, default=5, help="SKUs of the larger order (default 5; 1 skips it)"
    )
    parser.add_argument("--customers", type=int, default=8, help="distinct customers, in turn")
    args = parser.parse_args()
    if args.customers < 1 or args.lines < 1:
        parser.error("--customers and --lines must be at least 1")
    return args


def run(args: argparse.Namespace, db: harness.BenchDatabase, levels: list[int]) -> int:
    harness.migrate()
    harness.setup_django()
    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # static files unbuilt
    # Tasks run eagerly on the in-memory broker; kombu still warns that it has no host.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    from common.tokens import channel_user_get_or_create, token_issue

    shop = prepare_shop(
        skus=args.lines, stock=args.stock, safety_stock=args.safety_stock, customers=args.customers
    )
    token = token_issue(user=channel_user_get_or_create(channel="web"), channel="web")
    mode = "processes" if args.processes else "threads"
    print(harness.server_facts(db))
    print(harness.load_average("at start"))
    print(
        f"Hot row {shop.hot.label}: on hand {args.stock:,}, safety stock {args.safety_stock}; "
        f"pickup orders of 1 unit per SKU for {args.customers} customers in turn; "
        f"clients are {mode}, one connection each; {args.seconds:g} s per level"
        + (f" or {args.max_ops:,} calls" if args.max_ops else "")
        + f"; {args.rounds} round(s), median kept"
        + ("; VACUUM inventory_stocklevel before each measurement" if args.vacuum else "")
    )
    print("Each checkout includes its after-commit work: release to the store, store email.")
    budget = {"seconds": args.seconds, "max_ops": args.max_ops, "processes": args.processes}
    problems: list[str] = []
    totals = Totals()
    table: dict[int, dict[str, Level]] = {}
    jobs = workloads(args, shop, token)
    for clients in levels:
        runs: dict[str, list[Level]] = {job.name: [] for job in jobs}
        for round_no in range(1, args.rounds + 1):
            for job in jobs:
                if args.vacuum:
                    reserve.vacuum_stock(db)
                held = store_reservations(shop)
                level = measure(job, shop, clients, budget, f"{clients}c{round_no}")
                forget_emails()
                runs[job.name].append(level)
                problems += level.problems
                totals.hot_units += level.reserved
                if job.lines:
                    totals.orders += level.reserved
                if job.lines > 1:
                    totals.other_units += level.reserved
                unit = "orders/s" if job.lines else "reserves/s"
                print(
                    f"  {clients:>3} clients  round {round_no}  {job.name:<7} "
                    f"{level.rate:>8,.0f} {unit} ({level.attempts:,} in {level.seconds:.1f} s; "
                    f"{held:,} reservations at the store before)",
                    flush=True,
                )
        table[clients] = {name: reserve.median_level(done) for name, done in runs.items()}

    print(harness.load_average("at end"))
    print()
    print_results(table, [job.name for job in jobs], processes=args.processes)
    problems += final_checks(shop, args, totals)
    verify = harness.manage("verify_stock")
    print(f"verify_stock (exit {verify.returncode}): {(verify.stdout + verify.stderr).strip()}")
    if verify.returncode:
        problems.append("verify_stock found breaches")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("Invariants hold." if not problems else "Invariants or counts DO NOT hold.")
    return 1 if problems else 0


def final_checks(shop: Shop, args: argparse.Namespace, totals: Totals) -> list[str]:
    """The database against what the clients counted: orders, units, after-commit work."""
    from common.models import OutboxEvent
    from fulfillment.models import FulfillmentOrder
    from inventory.models import StockLevel
    from orders.models import Order, OrderEvent

    problems = []
    levels = dict(
        StockLevel.objects.filter(location_id=shop.store_id).values_list("sku_id", "reserved")
    )
    on_hand, reserved, active = reserve.hot_row_state(shop.hot)
    orders = Order.objects.count()
    not_released = Order.objects.exclude(status=Order.Status.PROCESSING).count()
    fulfillment_orders = FulfillmentOrder.objects.count()
    store_alerts = OrderEvent.objects.filter(
        kind=OrderEvent.Kind.NOTIFIED, data__to="store"
    ).count()
    unprocessed = OutboxEvent.objects.filter(processed_at__isnull=True).count()
    print(
        f"\nHot row after the run: on hand {on_hand:,}, reserved {reserved:,}, active "
        f"reservations {active:,}. Orders {orders:,} (clients placed {totals.orders:,}), "
        f"released to the store {orders - not_released:,}, fulfillment orders "
        f"{fulfillment_orders:,}, store alerts {store_alerts:,}, outbox events unprocessed "
        f"{unprocessed:,}."
    )
    if orders != totals.orders:
        problems.append(f"{orders} orders in the database, clients placed {totals.orders}")
    if on_hand != args.stock:
        problems.append(f"the hot row's on hand is {on_hand}, not {args.stock}")
    if reserved != totals.hot_units:
        problems.append(f"the hot row's reserved is {reserved}, clients took {totals.hot_units}")
    problems += [
        f"SKU {sku_id}: reserved {levels[sku_id]}, {args.lines}-line orders took "
        f"{totals.other_units}"
        for sku_id in shop.sku_ids[1 : args.lines]
        if levels[sku_id] != totals.other_units
    ]
    if not orders == fulfillment_orders == store_alerts or not_released:
        problems.append(
            "the after-commit work did not run for every order: "
            f"{not_released} not released, {fulfillment_orders} fulfillment orders, "
            f"{store_alerts} store alerts for {orders} orders"
        )
    if unprocessed:
        problems.append(f"{unprocessed} outbox events not processed (a handler failed)")
    return problems


def _ratio(top: float, bottom: float, digits: int = 2) -> str:
    return f"{top / bottom:.{digits}f}" if bottom else "-"


def print_results(table: dict[int, dict[str, Level]], names: list[str], *, processes: bool) -> None:
    first = table.get(1)
    rows = [
        [clients, name, f"{level.rate:,.0f}", f"{level.latency_ms(0.50):.2f}",
         f"{level.latency_ms(0.95):.2f}", f"{level.cpu_ms:.2f}",
         _ratio(level.rate, first[name].rate) if first else "-"]
        for clients, by_name in table.items()
        for name, level in ((name, by_name[name]) for name in names)
    ]  # fmt: skip
    harness.print_table(
        ["clients", "workload", "per s", "p50 ms", "p95 ms", "CPU ms", "vs 1 client"], rows
    )
    print(
        "(per s: orders/s, reserves/s for `reserve`; CPU ms: client-side CPU time per call, "
        "summed over the clients; vs 1 client: throughput relative to the same workload at 1.)"
    )
    big = next((name for name in names if name.endswith("-line")), None)
    headers = ["clients", "service/reserve", "API/service"] + ([f"{big}/service"] if big else [])
    ratios = []
    for clients, by_name in table.items():
        service = by_name["service"].rate
        row = [
            clients,
            _ratio(service, by_name["reserve"].rate, 3),
            _ratio(by_name["API"].rate, service),
        ]
        if big:
            row.append(_ratio(by_name[big].rate, service))
        ratios.append(row)
    print("\nThroughput ratios:")
    harness.print_table(headers, ratios)
    if not processes and first:
        ceilings = ", ".join(
            f"{name} {1000 / first[name].cpu_ms:,.0f}/s" for name in names if first[name].cpu_ms
        )
        print(
            "Threads share one interpreter: at most about 1000 / CPU ms calls/s whatever the "
            f"clients ({ceilings} from the 1-client CPU); --processes spreads them over the cores."
        )


def main() -> int:
    # The API workload goes through Django's test Client, whose host is "testserver".
    return harness.run_load(parse_args(), run, extra_env={"ALLOWED_HOSTS": "testserver"})


if __name__ == "__main__":
    sys.exit(main())
