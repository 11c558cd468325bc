"""Availability of SKUs across every location: seed rate, query plan and latency.

1. Seeds --stores stores and --warehouses warehouses x --skus SKUs into a fresh bench
   database with `manage.py seed_demo` and reports rows inserted per second.
2. Runs EXPLAIN (ANALYZE, BUFFERS) on the stock query of `inventory.selectors.availability`
   for 1 SKU, straight after the seed and after VACUUM (ANALYZE): the scan of
   inventory_stocklevel must be an Index Only Scan using stocklevel_sku_covering_idx.
3. Times 1 SKU and 10 SKUs near a point at three layers: the stock query alone, the
   selector, and GET /api/v1/availability through Django's test Client; prints ratios
   (10 SKUs / 1 SKU, selector / SQL, API / selector), which carry across machines.

Exit status 1 when the plan is not index-only on the covering index or a request fails.
"""

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import harness

COVERING_INDEX = "stocklevel_sku_covering_idx"
STOCK_TABLE = "inventory_stocklevel"


@dataclass
class Timing:
    case: str
    layer: str
    rows: int
    seconds: list[float]

    def ms(self, fraction: float) -> float:
        return harness.percentile(self.seconds, fraction) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.seconds) * 1000


def timed(call: Callable[[], int], repeat: int) -> tuple[int, list[float]]:
    """Run `call` once to warm up, then `repeat` times; (rows it returned, seconds per call)."""
    rows = call()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return rows, seconds


def seed(args: argparse.Namespace) -> float:
    started = time.perf_counter()
    result = harness.manage(
        "seed_demo",
        "--stores", str(args.stores),
        "--warehouses", str(args.warehouses),
        "--skus", str(args.skus),
        "--no-progress",
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"seed_demo failed:\n{result.stdout}{result.stderr}")
    return elapsed


def report_seed(elapsed: float) -> None:
    from django.db import connection

    tables = {
        "locations": "stores_location",
        "SKUs": "inventory_sku",
        "stock levels": "inventory_stocklevel",
        "stock movements": "inventory_stockmovement",
    }
    counts = {}
    with connection.cursor() as cursor:
        for label, table in tables.items():
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - fixed table names
            counts[label] = cursor.fetchone()[0]
    total = sum(counts.values())
    stock_rows = counts["stock levels"] + counts["stock movements"]
    print(
        "Seeded " + ", ".join(f"{n:,} {label}" for label, n in counts.items())
        + f" in {elapsed:.1f} s (the whole seed_demo command, staff users included):"
    )  # fmt: skip
    print(
        f"  {total / elapsed:,.0f} rows/s overall; {stock_rows / elapsed:,.0f} stock rows/s "
        f"(levels + ledger); {counts['stock levels'] / elapsed:,.0f} stock levels/s"
    )


def stock_query(sku_ids: list[int], near: tuple[float, float]) -> str:
    """The SQL the selector sends for the stock rows, with its parameters inlined."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory.selectors import availability

    with CaptureQueriesContext(connection) as captured:
        availability(sku_ids=sku_ids, near=near)
    return next(q["sql"] for q in captured.captured_queries if STOCK_TABLE in q["sql"])


def explain(sql: str) -> tuple[list[str], dict]:
    """(text plan, the plan node that reads inventory_stocklevel) of one EXPLAIN ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        text = [line for (line,) in cursor.fetchall()]
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if node.get("Relation Name") == STOCK_TABLE:
            return text, node
        nodes += node.get("Plans", [])
    return text, {}


def describe(node: dict) -> str:
    if not node:
        return f"no scan of {STOCK_TABLE} found"
    index = node.get("Index Name") or next(
        (child["Index Name"] for child in node.get("Plans", []) if "Index Name" in child), None
    )
    using = f" using {index}" if index else ""
    fetches = f", heap fetches {node['Heap Fetches']}" if "Heap Fetches" in node else ""
    return (
        f"{node['Node Type']}{using} on {STOCK_TABLE}: {node['Actual Rows']:,} rows x "
        f"{node['Actual Loops']} loop(s){fetches}, {node['Actual Total Time']:.2f} ms"
    )


def is_index_only(node: dict) -> bool:
    return node.get("Node Type") == "Index Only Scan" and node.get("Index Name") == COVERING_INDEX


def vacuum_analyze() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in ("stores_location", "inventory_sku", STOCK_TABLE):
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    return time.perf_counter() - started


def measure(
    *, single: list, ten: list, near: tuple[float, float], repeat: int
) -> tuple[list[Timing], list[str]]:
    from django.db import connection
    from django.test import Client

    from common.tokens import channel_user_get_or_create, token_issue
    from inventory.selectors import availability

    key = token_issue(user=channel_user_get_or_create(channel="web"), channel="web")
    client = Client(headers={"authorization": f"Token {key}"})
    problems: list[str] = []
    timings = []
    for case, skus in (("1 SKU", single), ("10 SKUs", ten)):
        sku_ids = [sku.pk for sku in skus]
        sql = stock_query(sku_ids, near)

        def run_sql(sql=sql) -> int:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return len(cursor.fetchall())

        def run_selector(sku_ids=sku_ids) -> int:
            return len(availability(sku_ids=sku_ids, near=near))

        def run_api(skus=skus, case=case) -> int:
            query = {"sku": [sku.code for sku in skus], "near": f"{near[0]},{near[1]}"}
            response = client.get("/api/v1/availability", query, secure=True)
            if response.status_code != 200:
                problems.append(f"{case}: GET /api/v1/availability -> {response.status_code}")
                return 0
            return len(response.json()["results"])

        for layer, call in (("SQL", run_sql), ("selector", run_selector), ("API", run_api)):
            rows, seconds = timed(call, repeat)
            timings.append(Timing(case, layer, rows, seconds))
    return timings, problems


def print_timings(timings: list[Timing]) -> None:
    harness.print_table(
        ["SKUs", "layer", "rows", "p50 ms", "p95 ms", "mean ms"],
        [
            [t.case, t.layer, f"{t.rows:,}", f"{t.ms(0.5):.2f}", f"{t.ms(0.95):.2f}",
             f"{t.mean_ms:.2f}"]
            for t in timings
        ],
    )  # fmt: skip
    p50 = {(t.case, t.layer): t.ms(0.5) for t in timings}
    ratios = [
        [f"{layer}: 10 SKUs / 1 SKU", p50["10 SKUs", layer] / p50["1 SKU", layer]]
        for layer in ("SQL", "selector", "API")
    ]
    for case in ("1 SKU", "10 SKUs"):
        ratios += [
            [f"{case}: selector / SQL", p50[case, "selector"] / p50[case, "SQL"]],
            [f"{case}: API / selector", p50[case, "API"] / p50[case, "selector"]],
        ]
    print()
    harness.print_table(["ratio of p50 latencies", "value"], [[n, f"{v:.2f}"] for n, v in ratios])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case and layer")
    parser.add_argument("--near", default="31.2,121.4", help="lat,lng of the customer")
    parser.add_argument(
        "--database-url", help=f"default: $DATABASE_URL or {harness.DEFAULT_DATABASE_URL}"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    return parser.parse_args()


def run(args: argparse.Namespace, db: harness.BenchDatabase) -> int:
    harness.migrate()
    print(harness.server_facts(db))
    print(harness.load_average("at start"))
    elapsed = seed(args)
    harness.setup_django()
    from django.test.utils import setup_test_environment

    from inventory.models import Sku

    setup_test_environment()  # lets the test Client's host through ALLOWED_HOSTS
    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # static files unbuilt
    report_seed(elapsed)

    lat, lng = (float(part) for part in args.near.split(","))
    skus = list(Sku.objects.order_by("pk"))
    ten = skus[:: max(1, len(skus) // 10)][:10]
    single = ten[:1]
    problems = []

    sql = stock_query([single[0].pk], (lat, lng))
    _, node = explain(sql)
    print(f"\n1-SKU stock query ({single[0].code}), straight after the seed:\n  {describe(node)}")
    print(f"VACUUM (ANALYZE) of locations, SKUs and stock levels: {vacuum_analyze():.1f} s")
    text, node = explain(sql)
    print(f"1-SKU stock query after VACUUM (ANALYZE):\n  {describe(node)}")
    print("  plan:")
    for line in text:
        print(f"    {line}")
    if not is_index_only(node):
        problems.append(
            f"the 1-SKU query does not read {STOCK_TABLE} index-only via {COVERING_INDEX}"
        )
    _, node_ten = explain(stock_query([sku.pk for sku in ten], (lat, lng)))
    print(f"10-SKU stock query after VACUUM (ANALYZE):\n  {describe(node_ten)}\n")

    timings, request_problems = measure(single=single, ten=ten, near=(lat, lng), repeat=args.repeat)
    problems += request_problems
    print(
        f"Latency near {args.near}, {args.repeat} timed calls each after one warm-up (warm cache):"
    )
    print_timings(timings)
    print(harness.load_average("at end"))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"Index-only scan on {COVERING_INDEX}: {'yes' if is_index_only(node) else 'NO'}")
    return 1 if problems else 0


def main() -> int:
    args = parse_args()
    db = harness.bench_database(args.database_url)
    harness.configure_environment(db)
    harness.recreate_database(db)
    try:
        return run(args, db)
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            harness.drop_database(db)


if __name__ == "__main__":
    sys.exit(main())
