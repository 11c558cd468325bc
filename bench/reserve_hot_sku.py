"""Reserve throughput on one hot SKU at one store: `stock_reserve` against the bare UPDATE.

At each client count, N clients (threads, or processes with --processes), each with its own
database connection, reserve 1 unit of the same (store, SKU) row again and again, one
reserve per transaction, for --seconds (or --max-ops reserves). Two workloads run on that
row at each level:

  raw SQL  the conditional UPDATE alone through psycopg, then COMMIT. Undone after the
           level with one UPDATE, so the ledger and the reservations stay consistent.
  service  inventory.services.stock_reserve: reservation and ledger rows, then the
           conditional UPDATE, then COMMIT.

Before each measurement the stock table is vacuumed (--no-vacuum to skip), so dead versions
of the hot row left by one measurement do not slow the next. The service / raw SQL ratio is
the figure to compare across machines. The run ends with how the stock table's updates were
written (HOT or not) and `manage.py verify_stock`; the exit status is 1 when an invariant or
a count does not hold.
"""

import argparse
import itertools
import math
import multiprocessing
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import harness

RAW_RESERVE = (
    "UPDATE inventory_stocklevel SET reserved = reserved + 1"
    " WHERE location_id = %s AND sku_id = %s AND on_hand - reserved - held - safety_stock >= 1"
)
RAW_UNDO = (
    "UPDATE inventory_stocklevel SET reserved = reserved - %s"
    " WHERE location_id = %s AND sku_id = %s"
)
STOCK_TABLE_STATS = """
SELECT n_tup_upd, n_tup_hot_upd, pg_relation_size(relid), pg_indexes_size(relid),
       (SELECT count(*) FROM pg_index WHERE indrelid = relid)
FROM pg_stat_user_tables WHERE relname = 'inventory_stocklevel'
"""
# DESIGN.md, "Inventory: the invariants": raw SQL on one hot row.
DESIGN_RAW = {1: 2500, 64: 1150}


@dataclass(frozen=True)
class HotRow:
    location_id: int
    sku_id: int
    label: str


class RawSqlClient:
    """The bare conditional UPDATE, one per transaction, on its own psycopg connection."""

    def __init__(self, db: harness.BenchDatabase, row: HotRow) -> None:
        self.conn = db.connect()
        self.cursor = self.conn.cursor()
        self.params = (row.location_id, row.sku_id)
        self.reserved = 0

    def __call__(self) -> bool:
        self.cursor.execute(RAW_RESERVE, self.params)
        ok = self.cursor.rowcount == 1
        self.conn.commit()
        self.reserved += ok
        return ok

    def close(self) -> None:
        self.conn.close()


class ServiceClient:
    """A checkout backend: each call is one `stock_reserve` of 1 unit, its own transaction."""

    def __init__(self, row: HotRow, name: str, *, delivery_method: str = "ship") -> None:
        from inventory.errors import InsufficientStock
        from inventory.services import StockRequest, stock_reserve

        self._reserve = stock_reserve
        self._request = StockRequest
        self._shortage = InsufficientStock
        self.row, self.name = row, name
        self.delivery_method = delivery_method
        self.calls = 0
        self.reserved = 0

    def __call__(self) -> bool:
        self.calls += 1
        reference = f"{self.name}-{self.calls}"
        request = self._request(
            location_id=self.row.location_id,
            sku_id=self.row.sku_id,
            quantity=1,
            reference=reference,
        )
        try:
            self._reserve(
                requests=[request], demand=reference, delivery_method=self.delivery_method
            )
        except self._shortage:
            return False
        self.reserved += 1
        return True

    def close(self) -> None:
        from django.db import connection

        connection.close()


@dataclass
class Sample:
    """What one client did during a level."""

    started: float
    finished: float
    latencies: list[float]
    failed: int
    reserved: int  # including the warm-up reserve
    cpu: float  # CPU seconds of this client's thread (or process) in the timed window


@dataclass
class Level:
    clients: int
    attempts: int
    failed: int
    seconds: float
    latencies: list[float]
    reserved: int
    cpu: float
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.attempts - self.failed) / self.seconds

    def latency_ms(self, fraction: float) -> float:
        return harness.percentile(self.latencies, fraction) * 1000

    @property
    def cpu_ms(self) -> float:
        """Client CPU per reserve: Python and driver work, not the database's."""
        return self.cpu / self.attempts * 1000


def _client_loop(make_client, index, barrier, seconds, max_ops, results) -> None:
    client = None
    try:
        client = make_client(index)
        client()  # warm-up: connection open, statements parsed, outside the timed window
        barrier.wait(timeout=120)
        latencies, failed = [], 0
        cpu_started = time.thread_time()
        started = now = time.perf_counter()
        deadline = started + seconds
        while now < deadline and len(latencies) < max_ops:
            ok = client()
            after = time.perf_counter()
            latencies.append(after - now)
            failed += not ok
            now = after
        cpu = time.thread_time() - cpu_started
        results.put(Sample(started, now, latencies, failed, client.reserved, cpu))
    except Exception as exc:  # reported by the parent, which fails the run
        barrier.abort()
        results.put(f"client {index}: {exc!r}")
    finally:
        if client is not None:
            client.close()


def run_level(
    make_client: Callable[[int], Callable[[], bool]],
    *,
    clients: int,
    seconds: float,
    max_ops: int | None,
    processes: bool,
) -> Level:
    """`clients` clients start together and reserve until the time (or operation) budget."""
    per_client = math.ceil(max_ops / clients) if max_ops else sys.maxsize
    if processes:
        from django.db import connections

        connections.close_all()  # a forked child must open a connection of its own
        context = multiprocessing.get_context("fork")
        barrier, results, spawn = context.Barrier(clients), context.Queue(), context.Process
    else:
        barrier, results, spawn = threading.Barrier(clients), queue.Queue(), threading.Thread
    workers = [
        spawn(
            target=_client_loop,
            args=(make_client, index, barrier, seconds, per_client, results),
            daemon=True,
        )
        for index in range(clients)
    ]
    for worker in workers:
        worker.start()
    samples = [results.get(timeout=seconds + 300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    errors = [sample for sample in samples if isinstance(sample, str)]
    if errors:
        raise RuntimeError("a client failed:\n" + "\n".join(errors))
    latencies = list(itertools.chain.from_iterable(sample.latencies for sample in samples))
    return Level(
        clients=clients,
        attempts=len(latencies),
        failed=sum(sample.failed for sample in samples),
        seconds=max(s.finished for s in samples) - min(s.started for s in samples),
        latencies=latencies,
        reserved=sum(sample.reserved for sample in samples),
        cpu=sum(sample.cpu for sample in samples),
    )


def prepare_hot_row(*, stock: int, safety_stock: int) -> HotRow:
    """One demo store and one demo SKU, stocked through the services. Every service reserve
    is a ship order of its own, so the store may ship as many as a run makes."""
    from inventory.demo import seed_skus
    from inventory.models import Sku
    from inventory.services import stock_set_safety_stock
    from stores.demo import seed_locations
    from stores.models import Location

    seed_locations(stores=1, warehouses=0)
    seed_skus(count=1)
    location = Location.objects.order_by("pk").first()
    Location.objects.filter(pk=location.pk).update(daily_ship_capacity=2_000_000_000)
    sku = Sku.objects.order_by("pk").first()
    harness.stock_up(location=location, sku=sku, quantity=stock)
    stock_set_safety_stock(location=location, sku=sku, safety_stock=safety_stock)
    return HotRow(location_id=location.pk, sku_id=sku.pk, label=f"{sku.code} at {location.code}")


def hot_row_state(row: HotRow) -> tuple[int, int, int]:
    """(on hand, reserved, active reservations) of the hot row."""
    from inventory.models import Reservation, StockLevel

    level = StockLevel.objects.get(location_id=row.location_id, sku_id=row.sku_id)
    active = Reservation.objects.filter(
        location_id=row.location_id, sku_id=row.sku_id, status=Reservation.Status.ACTIVE
    ).count()
    return level.on_hand, level.reserved, active


def undo_raw(db: harness.BenchDatabase, row: HotRow, quantity: int) -> None:
    with db.connect() as conn:
        conn.execute(RAW_UNDO, (quantity, row.location_id, row.sku_id))


def vacuum_stock(db: harness.BenchDatabase) -> None:
    """Every measurement starts without the dead versions of the hot row left by the last."""
    with db.connect(autocommit=True) as conn:
        conn.execute("VACUUM inventory_stocklevel")


def stock_table_report(db: harness.BenchDatabase) -> str:
    """How the updates of inventory_stocklevel were written: HOT (heap only) or not."""
    with db.connect() as conn:
        updates, hot, heap, indexes, count = conn.execute(STOCK_TABLE_STATS).fetchone()
    share = hot / updates if updates else 0
    return (
        f"inventory_stocklevel: {updates:,} row updates, {hot:,} HOT ({share:.1%}); a non-HOT "
        f"update adds an entry to each of its {count} indexes. Size now: heap "
        f"{heap / 1024:,.0f} kB, indexes {indexes / 1024:,.0f} kB (1 row)."
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_arguments(
        parser, clients="1,4,16,64", seconds=5.0, call="reserves", stock="the hot row"
    )
    return parser.parse_args()


def measure_raw(db: harness.BenchDatabase, row: HotRow, clients: int, budget: dict) -> Level:
    """The bare UPDATE; afterwards `reserved` is put back by exactly what the level added."""
    _, before, _ = hot_row_state(row)
    level = run_level(lambda index: RawSqlClient(db, row), clients=clients, **budget)
    _, after, _ = hot_row_state(row)
    if after - before != level.reserved:
        level.problems.append(
            f"raw SQL, {clients} clients: reserved moved by {after - before}, "
            f"clients counted {level.reserved}"
        )
    undo_raw(db, row, after - before)
    return level


def measure_service(row: HotRow, clients: int, budget: dict, tag: str) -> Level:
    _, before, active_before = hot_row_state(row)
    level = run_level(
        lambda index: ServiceClient(row, f"bench-{tag}-{index}"), clients=clients, **budget
    )
    _, after, active_after = hot_row_state(row)
    if not after - before == active_after - active_before == level.reserved:
        level.problems.append(
            f"service, {clients} clients: reserved moved by {after - before}, "
            f"active reservations by {active_after - active_before}, "
            f"clients counted {level.reserved}"
        )
    return level


def median_level(levels: list[Level]) -> Level:
    return sorted(levels, key=lambda level: level.rate)[(len(levels) - 1) // 2]


def run(args: argparse.Namespace, db: harness.BenchDatabase, levels: list[int]) -> int:
    harness.migrate()
    harness.setup_django()
    row = prepare_hot_row(stock=args.stock, safety_stock=args.safety_stock)
    mode = "processes" if args.processes else "threads"
    print(harness.server_facts(db))
    print(harness.load_average("at start"))
    print(
        f"Hot row {row.label}: on hand {args.stock:,}, safety stock {args.safety_stock}; "
        f"clients are {mode}, one connection each; {args.seconds:g} s per level"
        + (f" or {args.max_ops:,} reserves" if args.max_ops else "")
        + f"; {args.rounds} round(s), median kept"
        + ("; VACUUM inventory_stocklevel before each measurement" if args.vacuum else "")
    )
    budget = {"seconds": args.seconds, "max_ops": args.max_ops, "processes": args.processes}
    problems: list[str] = []
    results: list[tuple[Level, Level]] = []
    for clients in levels:
        runs: dict[str, list[Level]] = {"raw SQL": [], "service": []}
        for round_no in range(1, args.rounds + 1):
            if args.vacuum:
                vacuum_stock(db)
            runs["raw SQL"].append(measure_raw(db, row, clients, budget))
            if args.vacuum:
                vacuum_stock(db)
            runs["service"].append(measure_service(row, clients, budget, f"{clients}c{round_no}"))
            for name, done in runs.items():
                level = done[-1]
                problems += level.problems
                if level.failed:
                    problems.append(f"{name}, {clients} clients: {level.failed} found no stock")
                print(
                    f"  {clients:>3} clients  round {round_no}  {name:<7} "
                    f"{level.rate:>8,.0f} reserves/s ({level.attempts:,} in {level.seconds:.1f} s)",
                    flush=True,
                )
        results.append((median_level(runs["service"]), median_level(runs["raw SQL"])))

    print(harness.load_average("at end"))
    print()
    print_results(results)
    on_hand, reserved, active = hot_row_state(row)
    print(
        f"\nHot row after the run: on hand {on_hand:,}, reserved {reserved:,}, "
        f"active reservations {active:,}"
    )
    verify = harness.manage("verify_stock")
    print(stock_table_report(db))
    print(f"verify_stock (exit {verify.returncode}): {(verify.stdout + verify.stderr).strip()}")
    if verify.returncode:
        problems.append("verify_stock found breaches")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("Invariants hold." if not problems else "Invariants or counts DO NOT hold.")
    return 1 if problems else 0


def print_results(results: list[tuple[Level, Level]]) -> None:
    harness.print_table(
        ["clients", "service/s", "raw SQL/s", "service/raw",
         "service p50 ms", "service p95 ms", "raw p50 ms", "raw p95 ms",
         "service CPU ms", "raw CPU ms"],
        [
            [service.clients, f"{service.rate:,.0f}", f"{raw.rate:,.0f}",
             f"{service.rate / raw.rate:.2f}",
             f"{service.latency_ms(0.50):.2f}", f"{service.latency_ms(0.95):.2f}",
             f"{raw.latency_ms(0.50):.2f}", f"{raw.latency_ms(0.95):.2f}",
             f"{service.cpu_ms:.2f}", f"{raw.cpu_ms:.2f}"]
            for service, raw in results
        ],
    )  # fmt: skip
    print("(CPU ms: client-side CPU time per reserve, summed over the clients.)")
    by_clients = {service.clients: (service, raw) for service, raw in results}
    if 1 in by_clients:
        service_1, raw_1 = by_clients[1]
        scaling = ", ".join(
            f"{n}: service {service.rate / service_1.rate:.2f}, raw {raw.rate / raw_1.rate:.2f}"
            for n, (service, raw) in sorted(by_clients.items())
            if n != 1
        )
        print(f"\nThroughput relative to 1 client -> {scaling}")
        print(
            f"DESIGN.md raw SQL reference: {DESIGN_RAW[64]:,}/{DESIGN_RAW[1]:,} reserves/s "
            f"= {DESIGN_RAW[64] / DESIGN_RAW[1]:.2f} at 64 vs 1 client; raw SQL at 1 client "
            f"here = {raw_1.rate / DESIGN_RAW[1]:.2f} x the DESIGN.md figure"
        )


def main() -> int:
    return harness.run_load(parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
