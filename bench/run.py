"""`make bench`: the peak-day figures over real HTTP, with the raw-SQL ceiling beside them.

One invocation prepares everything itself and stops everything it started:

1. a throw-away bench database (its name must contain `bench`), migrated, and a chain seeded
   by `manage.py seed_demo` at the chosen scale; stock topped up through ledger rows and the
   daily ship capacity raised, so a run measures steady state, not a chain selling out;
2. gunicorn serving `config.wsgi` with production settings on 127.0.0.1 (4 workers) and a
   Celery worker on Redis (a queue of this run's own) that releases every order;
3. the ceiling: the row changes a 3-line ship checkout makes (three conditional stock
   UPDATEs, their reservation and ledger INSERTs, the ship slot of the day, one COMMIT) as
   plain SQL through pgbench, random SKUs and locations, at each client count;
4. checkout over HTTP: wrk, 3-line ship orders with random SKUs and a fresh Idempotency-Key
   each, at the same client counts; the outbox backlog sampled throughout, the release
   latency (checkout commit -> fulfillment order) read from the database timestamps;
5. the hot SKU (one SKU at one store, pickup, over HTTP) next to the raw hot-row rate;
   availability over HTTP (1 SKU across the chain, a 20-SKU basket near a point); routing
   a 5-line ship order in process; `verify_stock`;
6. with `--scale large` or `--scales`, the same checkout mix at other chain sizes.

Results go to bench/results/<timestamp>/ (results.json, results.md, PNG plots) and the
table is printed. See bench/README.md.
"""

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import harness
import report
import stack as stack_module
from harness import BASE_DIR, BenchDatabase
from stack import Stack, cpu_seconds, free_port, machine_busy

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
CEILING_DEMAND = "bench-ceiling"


@dataclass(frozen=True)
class Scale:
    name: str
    stores: int
    warehouses: int
    skus: int

    @property
    def locations(self) -> int:
        return self.stores + self.warehouses

    @property
    def label(self) -> str:
        return f"{self.locations} locations x {self.skus} SKUs"


SCALES = {
    "smoke": Scale("smoke", 5, 1, 50),
    "small": Scale("small", 98, 2, 2000),
    "large": Scale("large", 998, 2, 20_000),
}
# The scale comparison that --scale large adds (the main scale is part of it).
LARGE_COMPARISON = ["100x2000", "1000x2000", "100x20000"]


def parse_scale(text: str) -> Scale:
    """`small`, `large`, or LOCATIONSxSKUS (two of the locations are warehouses)."""
    if text in SCALES:
        return SCALES[text]
    locations, skus = (int(part) for part in text.lower().split("x"))
    warehouses = 2 if locations > 10 else 1
    return Scale(text, locations - warehouses, warehouses, skus)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="small", help="smoke, small, large or LOCxSKUS")
    parser.add_argument(
        "--scales",
        default=None,
        help="comma list of LOCATIONSxSKUS for the scale comparison (large: "
        + ",".join(LARGE_COMPARISON)
        + "); 'none' for none",
    )
    parser.add_argument("--clients", default="1,4,16,64", help="connections per level")
    parser.add_argument("--seconds", type=float, default=10, help="per level")
    parser.add_argument("--lines", type=int, default=3, help="lines of a checkout")
    parser.add_argument("--hot-clients", type=int, default=64)
    parser.add_argument("--hot-seconds", type=float, default=None, help="default --seconds")
    parser.add_argument("--scale-clients", type=int, default=16, help="for the comparison")
    parser.add_argument("--availability-seconds", type=float, default=None)
    parser.add_argument("--routing-repeat", type=int, default=200)
    parser.add_argument("--drain-timeout", type=float, default=60, help="outbox drain wait")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery pool")
    parser.add_argument("--top-up", type=int, default=100_000, help="units added per row")
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (0: any free)")
    parser.add_argument(
        "--database-url", help=f"default $DATABASE_URL or {harness.DEFAULT_DATABASE_URL}"
    )
    parser.add_argument("--redis-url", help=f"default $BENCH_REDIS_URL or {DEFAULT_REDIS_URL}")
    parser.add_argument("--out", type=Path, default=None, help="result folder")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graph")
    parser.add_argument(
        "--skip", default="", help="comma list: ceiling,checkout,hot,availability,routing"
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-plots", dest="plots", action="store_false")
    args = parser.parse_args(argv)
    args.levels = [int(n) for n in args.clients.split(",")]
    args.main_scale = parse_scale(args.scale)
    if args.scales is None:
        args.scales = ",".join(LARGE_COMPARISON) if args.scale == "large" else "none"
    args.comparison = (
        [] if args.scales == "none" else [parse_scale(s) for s in args.scales.split(",") if s]
    )
    args.skipped = {s for s in args.skip.split(",") if s}
    args.hot_seconds = args.hot_seconds or args.seconds
    args.availability_seconds = args.availability_seconds or args.seconds
    return args


# --- the environment of the app's processes ----------------------------------------------


def app_environment(db: BenchDatabase, *, redis_url: str, var_dir: str, queue: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "OMS_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get(
                "DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-" + "0" * 24
            ),
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": db.url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "OMNISTOCK_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
            # Production would send the stores' new-order mail through SMTP.
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONPATH": str(BASE_DIR),
        }
    )
    return env


def manage(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


# --- the chain -----------------------------------------------------------------------------


@dataclass
class Chain:
    scale: Scale
    token: str
    bbox: tuple[float, float, float, float]
    stocked: tuple[int, int]  # location ids whose rows were topped up (a contiguous range)
    skus: tuple[int, int]  # sku ids
    hot_store: str
    hot_store_id: int
    seed_seconds: float


def prepare_chain(db: BenchDatabase, env: dict, scale: Scale, *, top_up: int) -> Chain:
    print(f"== preparing {db.name}: {scale.label}", flush=True)
    harness.recreate_database(db)
    manage(env, "migrate", "--noinput", "-v", "0")
    started = time.monotonic()
    manage(
        env, "seed_demo", "--stores", str(scale.stores), "--warehouses", str(scale.warehouses),
        "--skus", str(scale.skus), "--staff-stores", "2", "--no-progress", "-v", "0",
    )  # fmt: skip
    seed_seconds = time.monotonic() - started
    token = manage(env, "issue_token", "--channel", "web").stdout.strip().split()[-1]
    with db.connect(autocommit=True) as conn:
        lat0, lat1, lon0, lon1, lmin, lmax, n = conn.execute(
            "SELECT min(latitude), max(latitude), min(longitude), max(longitude),"
            " min(id), max(id), count(*) FROM stores_location"
        ).fetchone()
        smin, smax, sn = conn.execute(
            "SELECT min(id), max(id), count(*) FROM inventory_sku"
        ).fetchone()
        if lmax - lmin + 1 != n or smax - smin + 1 != sn:
            raise RuntimeError("location or SKU ids are not contiguous in a fresh bench database")
        # Small chains: every row; large ones: the warehouses (where ship orders go first).
        rows = n * sn
        where = "" if rows <= 500_000 else "WHERE l.kind = 'warehouse'"
        wmin, wmax = conn.execute(
            f"SELECT min(l.id), max(l.id) FROM stores_location l {where}"  # noqa: S608
        ).fetchone()
        hot_id, hot_code = conn.execute(
            "SELECT id, code FROM stores_location WHERE kind = 'store' AND can_pickup"
            " AND is_active ORDER BY id LIMIT 1"
        ).fetchone()
        # Raise stock through ledger rows (receipts), so verify_stock stays clean.
        conn.execute(
            """
            WITH up AS (
                UPDATE inventory_stocklevel s SET on_hand = s.on_hand + %(q)s, updated_at = now()
                FROM stores_location l
                WHERE l.id = s.location_id AND l.id BETWEEN %(a)s AND %(b)s
                RETURNING s.location_id, s.sku_id
            )
            INSERT INTO inventory_stockmovement
                (delta_on_hand, delta_reserved, reason, reference, note, source, external_id,
                 created_at, location_id, sku_id)
            SELECT %(q)s, 0, 'receipt', 'bench top-up', '', '', '', now(), location_id, sku_id
            FROM up
            """,
            {"q": top_up, "a": wmin, "b": wmax},
        )
        conn.execute("UPDATE stores_location SET daily_ship_capacity = 100000000")
        conn.execute("VACUUM ANALYZE")
    print(f"   seeded in {seed_seconds:.1f} s; stocked locations {wmin}..{wmax}", flush=True)
    return Chain(
        scale=scale,
        token=token,
        bbox=(lat0, lat1, lon0, lon1),
        stocked=(wmin, wmax),
        skus=(smin, smax),
        hot_store=hot_code,
        hot_store_id=hot_id,
        seed_seconds=seed_seconds,
    )


# --- load generators -----------------------------------------------------------------------


def run_wrk(
    *, url: str, script: str, connections: int, seconds: float, env: dict[str, str]
) -> dict:
    """wrk at `connections`; its JSON summary, plus its own CPU and the machine's."""
    threads = max(1, min(connections, 2))
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "30s", "-s", str(LUA_DIR / script), url,
    ]  # fmt: skip
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = machine_busy()
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - wrk with fixed arguments
        command,
        env={**os.environ, **env, "BENCH_LUA_DIR": str(LUA_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    busy1, total1 = machine_busy()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if result.returncode or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime) + (
        after_children.ru_stime - before_children.ru_stime
    )
    cores = os.cpu_count() or 1
    data.update(
        {
            "connections": connections,
            "wall_s": wall,
            "wrk_cpu_s": wrk_cpu,
            # Of the machine's capacity, and of what the machine was busy with.
            "wrk_cpu_share": wrk_cpu / (wall * cores),
            "wrk_share_of_busy": wrk_cpu / max(busy1 - busy0, 1e-9),
            "machine_busy_share": (busy1 - busy0) / max(total1 - total0, 1e-9),
            "stderr": result.stderr[-1000:],
        }
    )
    return data


def checkout_env(chain: Chain, **extra: str) -> dict[str, str]:
    lat0, lat1, lon0, lon1 = chain.bbox
    return {
        "BENCH_TOKEN": chain.token,
        "BENCH_RUN": uuid.uuid4().hex[:12],
        "BENCH_SKUS": str(chain.scale.skus),
        "BENCH_BBOX": f"{lat0},{lat1},{lon0},{lon1}",
        **extra,
    }


def run_pgbench(
    db: BenchDatabase, *, script: str, clients: int, seconds: float, work: Path
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    script_path = work / "script.sql"
    script_path.write_text(script)
    prefix = work / "log"
    for old in work.glob("log.*"):
        old.unlink()
    command = [
        "pgbench", "-n", "-h", db.host, "-p", str(db.port), "-U", db.user,
        "-c", str(clients), "-j", str(max(1, min(clients, 2))), "-T", str(max(1, round(seconds))),
        "-f", str(script_path), "-l", f"--log-prefix={prefix}", db.name,
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": db.password} if db.password else dict(os.environ)
    result = subprocess.run(  # noqa: S603 - pgbench with fixed arguments
        command, env=env, capture_output=True, text=True, check=False, cwd=work
    )
    if result.returncode:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    latencies = []
    for log in work.glob("log.*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]) / 1000)
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in result.stdout.splitlines()
        if line.startswith("tps =")
    )
    return {
        "clients": clients,
        "per_s": tps,
        "transactions": len(latencies),
        "p50_ms": harness.percentile(latencies, 0.5),
        "p99_ms": harness.percentile(latencies, 0.99),
    }


RESERVE_CTE = """
WITH up AS (
    UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now()
    WHERE location_id = {loc} AND sku_id = {sku} AND on_hand - reserved - safety_stock >= 1
    RETURNING location_id, sku_id
), m AS (
    INSERT INTO inventory_stockmovement
        (delta_on_hand, delta_reserved, reason, reference, note, source, external_id,
         created_at, location_id, sku_id)
    SELECT 0, 1, 'reserve', '{demand}', '', '', '', now(), location_id, sku_id FROM up
)
INSERT INTO inventory_reservation
    (reference, demand, delivery_method, quantity, status, created_at, updated_at,
     location_id, sku_id)
SELECT '{demand}', '{demand}', '{method}', 1, 'active', now(), now(), location_id, sku_id
FROM up;
"""


def ceiling_script(chain: Chain, *, lines: int, time_zone: str) -> str:
    """One order: `lines` random SKUs (in id order, as checkout locks them) at one random
    stocked location, each a conditional UPDATE with its ledger and reservation rows, then
    the location's ship slot of the day, one COMMIT."""
    (lmin, lmax), (smin, smax) = chain.stocked, chain.skus
    band = (smax - smin + 1) // lines
    out = [f"\\set loc random({lmin}, {lmax})"]
    for i in range(lines):
        low = smin + i * band
        high = smax if i == lines - 1 else low + band - 1
        out.append(f"\\set s{i} random({low}, {high})")
    out.append("BEGIN;")
    for i in range(lines):
        sql = RESERVE_CTE.format(loc=":loc", sku=f":s{i}", demand=CEILING_DEMAND, method="ship")
        out.append(" ".join(sql.split()))
    # A pgbench script of our own; the zone is the TIME_ZONE setting.
    slot = (
        "UPDATE inventory_shipday SET orders = orders + 1 WHERE location_id = :loc"
        " AND day = (now() AT TIME ZONE '{zone}')::date"
        " AND orders < (SELECT daily_ship_capacity FROM stores_location WHERE id = :loc);"
    )
    out.append(slot.format(zone=time_zone))
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def hot_row_script(chain: Chain, sku_id: int) -> str:
    sql = RESERVE_CTE.format(
        loc=chain.hot_store_id, sku=sku_id, demand=CEILING_DEMAND, method="pickup"
    )
    return "BEGIN;\n" + " ".join(sql.split()) + "\nCOMMIT;\n"


@contextlib.contextmanager
def ceiling_rows(db: BenchDatabase, *, time_zone: str, ship_days: bool = True):
    """Make today's ship-day rows exist, then undo every row change the ceiling made.

    The ship-day counters are put back to what they were before, so nothing else may take
    a ship slot meanwhile (`ship_days=False` for a ceiling that takes none)."""
    if not ship_days:
        try:
            yield
        finally:
            _undo_reservations(db)
            vacuum(db)
        return
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO inventory_shipday (day, orders, location_id)"
            " SELECT (now() AT TIME ZONE %s)::date, 0, id FROM stores_location"
            " ON CONFLICT DO NOTHING",
            [time_zone],
        )
        conn.execute("DROP TABLE IF EXISTS bench_shipday_before")
        conn.execute(
            "CREATE TABLE bench_shipday_before AS SELECT id, orders FROM inventory_shipday"
        )
    try:
        yield
    finally:
        _undo_reservations(db)
        with db.connect() as conn:
            conn.execute(
                "UPDATE inventory_shipday d SET orders = b.orders FROM bench_shipday_before b"
                " WHERE d.id = b.id"
            )
            conn.execute("DROP TABLE bench_shipday_before")
            conn.commit()
        vacuum(db)


def _undo_reservations(db: BenchDatabase) -> None:
    with db.connect() as conn:
        conn.execute(
            "UPDATE inventory_stocklevel s SET reserved = s.reserved - r.q"
            " FROM (SELECT location_id, sku_id, sum(quantity) AS q FROM inventory_reservation"
            "       WHERE demand = %s GROUP BY 1, 2) r"
            " WHERE s.location_id = r.location_id AND s.sku_id = r.sku_id",
            [CEILING_DEMAND],
        )
        conn.execute("DELETE FROM inventory_reservation WHERE demand = %s", [CEILING_DEMAND])
        conn.execute("DELETE FROM inventory_stockmovement WHERE reference = %s", [CEILING_DEMAND])
        conn.commit()


def vacuum(db: BenchDatabase) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "VACUUM ANALYZE inventory_stocklevel, inventory_reservation, inventory_stockmovement,"
            " inventory_shipday, orders_order, common_outboxevent"
        )


# --- the outbox and the release ------------------------------------------------------------


class BacklogSampler:
    """Unprocessed outbox events every `every` seconds, on a connection of its own."""

    def __init__(self, db: BenchDatabase, *, every: float = 0.5):
        self.db, self.every = db, every
        self.samples: list[tuple[float, int]] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self.db.connect(autocommit=True) as conn:
            while not self._stop.is_set():
                count = conn.execute(
                    "SELECT count(*) FROM common_outboxevent WHERE processed_at IS NULL"
                ).fetchone()[0]
                self.samples.append((round(time.monotonic() - self.started, 2), count))
                self._stop.wait(self.every)

    def now(self) -> int:
        with self.db.connect(autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM common_outboxevent WHERE processed_at IS NULL"
            ).fetchone()[0]

    def drain_since(self, stopped: float, *, backlog: int, timeout: float) -> float | None:
        """Seconds from `stopped` (the load's end, monotonic) to the first sample of an empty
        outbox (0.5 s resolution); None when it does not empty within `timeout`."""
        if backlog == 0:
            return 0.0
        if self.drain(timeout) is None:
            return None
        since = stopped - self.started
        zero = next((t for t, n in self.samples if t >= since and n == 0), None)
        return (zero - since) if zero is not None else time.monotonic() - stopped

    def drain(self, timeout: float) -> float | None:
        """Seconds until nothing is left unprocessed; None when it is not within `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.now() == 0:
                return time.monotonic() - started
            time.sleep(0.2)
        return None


def release_latencies(db: BenchDatabase, since: datetime, until: datetime) -> dict:
    """Checkout commit (the order's created_at) to its first fulfillment order, per order."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT extract(epoch FROM min(f.created_at) - o.created_at) * 1000
            FROM orders_order o
            LEFT JOIN fulfillment_fulfillmentorder f ON f.order_id = o.id
            WHERE o.created_at >= %s AND o.created_at < %s
            GROUP BY o.id
            """,
            [since, until],
        ).fetchall()
    done = [float(r[0]) for r in rows if r[0] is not None]
    return {
        "orders": len(rows),
        "released": len(done),
        "release_p50_ms": harness.percentile(done, 0.5),
        "release_p95_ms": harness.percentile(done, 0.95),
        "release_max_ms": max(done) if done else None,
    }


# --- the measurements ----------------------------------------------------------------------


def measure_ceiling(db, chain, args, work: Path) -> list[dict]:
    results = []
    tz = os.environ.get("TIME_ZONE", "Asia/Shanghai")
    script = ceiling_script(chain, lines=args.lines, time_zone=tz)
    with ceiling_rows(db, time_zone=tz):
        for clients in args.levels:
            row = run_pgbench(db, script=script, clients=clients, seconds=args.seconds, work=work)
            with db.connect(autocommit=True) as conn:
                reserved = conn.execute(
                    "SELECT count(*) FROM inventory_reservation WHERE demand = %s", [CEILING_DEMAND]
                ).fetchone()[0]
            row["rows_reserved_so_far"] = reserved
            print(
                f"   ceiling  {clients:>3} clients: {row['per_s']:9.1f} orders/s "
                f"p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms",
                flush=True,
            )
            results.append(row)
    return results


def measure_checkout(db, chain, stack, url, args, sampler: BacklogSampler) -> list[dict]:
    results = []
    gunicorn, celery = stack.pid("gunicorn"), stack.pid("celery")
    # Every gunicorn worker's first requests (imports, connections) are not the steady state.
    run_wrk(
        url=url,
        script="checkout.lua",
        connections=args.workers,
        seconds=min(args.seconds, 2),
        env=checkout_env(chain, BENCH_MODE="ship", BENCH_LINES=str(args.lines)),
    )
    settle(db)
    sampler.drain(args.drain_timeout)
    for clients in args.levels:
        since = db_now(db)
        server0, worker0 = cpu_seconds(gunicorn), cpu_seconds(celery)
        data = run_wrk(
            url=url,
            script="checkout.lua",
            connections=clients,
            seconds=args.seconds,
            env=checkout_env(chain, BENCH_MODE="ship", BENCH_LINES=str(args.lines)),
        )
        stopped = time.monotonic()
        backlog_end = sampler.now()
        settle(db)
        server1 = cpu_seconds(gunicorn)
        until = db_now(db)
        drain = sampler.drain_since(stopped, backlog=backlog_end, timeout=args.drain_timeout)
        worker1 = cpu_seconds(celery)
        seconds = data["duration_us"] / 1e6
        row = {
            "clients": clients,
            "orders_per_s": orders_per_s(db, since, args.seconds),
            "wrk_orders_per_s": data["ok"] / seconds,
            "wrk_seconds": seconds,
            "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "requests": data["requests"],
            "orders": data["ok"],
            "conflicts_409": data["conflicts"],
            "errors_non_2xx": data["other_status"],
            "socket_errors": data["socket_errors"] + data["timeouts"],
            "wrk_cpu_share": data["wrk_cpu_share"],
            "wrk_share_of_busy": data["wrk_share_of_busy"],
            "machine_busy_share": data["machine_busy_share"],
            "server_cpu_ms_per_order": 1000 * (server1 - server0) / max(data["ok"], 1),
            "worker_cpu_ms_per_order": 1000 * (worker1 - worker0) / max(data["ok"], 1),
            "backlog_at_end": backlog_end,
            "drain_s": drain,
            **release_latencies(db, since, until),
        }
        if data["stderr"].strip():
            row["wrk_stderr"] = data["stderr"]
        print(
            f"   checkout {clients:>3} clients: {row['orders_per_s']:9.1f} orders/s "
            f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, 409 {row['conflicts_409']}, "
            f"other {row['errors_non_2xx']}, backlog {backlog_end} drained in "
            f"{'-' if drain is None else f'{drain:.1f} s'}",
            flush=True,
        )
        results.append(row)
    return results


def measure_hot(db, chain, url, args, work: Path) -> dict:
    with db.connect(autocommit=True) as conn:
        sku_id = conn.execute("SELECT id FROM inventory_sku WHERE code = 'SKU-00001'").fetchone()[0]
        # Enough on the shelf that nobody is turned away: every order takes one unit.
        conn.execute(
            """
            WITH up AS (
                UPDATE inventory_stocklevel SET on_hand = on_hand + 1000000, updated_at = now()
                WHERE location_id = %(loc)s AND sku_id = %(sku)s RETURNING location_id, sku_id
            )
            INSERT INTO inventory_stockmovement
                (delta_on_hand, delta_reserved, reason, reference, note, source, external_id,
                 created_at, location_id, sku_id)
            SELECT 1000000, 0, 'receipt', 'bench top-up', '', '', '', now(), location_id, sku_id
            FROM up
            """,
            {"loc": chain.hot_store_id, "sku": sku_id},
        )

    def reserved() -> int:
        with db.connect(autocommit=True) as conn:
            return conn.execute(
                "SELECT reserved FROM inventory_stocklevel WHERE location_id = %s AND sku_id = %s",
                [chain.hot_store_id, sku_id],
            ).fetchone()[0]

    tz = os.environ.get("TIME_ZONE", "Asia/Shanghai")
    with ceiling_rows(db, time_zone=tz, ship_days=False):
        raw = run_pgbench(
            db,
            script=hot_row_script(chain, sku_id),
            clients=args.hot_clients,
            seconds=args.hot_seconds,
            work=work,
        )
    before, since = reserved(), db_now(db)
    data = run_wrk(
        url=url,
        script="checkout.lua",
        connections=args.hot_clients,
        seconds=args.hot_seconds,
        env=checkout_env(
            chain, BENCH_MODE="pickup", BENCH_SKU="SKU-00001", BENCH_LOCATION=chain.hot_store
        ),
    )
    settle(db)
    taken = reserved() - before
    with db.connect(autocommit=True) as conn:
        placed = conn.execute(
            "SELECT count(*) FROM orders_order WHERE created_at >= %s", [since]
        ).fetchone()[0]
    per_s = orders_per_s(db, since, args.hot_seconds)
    row = {
        "clients": args.hot_clients,
        "wrk_orders_per_s": data["ok"] / (data["duration_us"] / 1e6),
        "store": chain.hot_store,
        "sku": "SKU-00001",
        "orders_per_s": per_s,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "orders_ok": data["ok"],
        "orders_placed_in_db": placed,
        "units_taken": taken,
        "conflicts_409": data["conflicts"],
        "errors_non_2xx": data["other_status"],
        "wrk_cpu_share": data["wrk_cpu_share"],
        "raw_hot_row_per_s": raw["per_s"],
        "raw_hot_row_p99_ms": raw["p99_ms"],
        "ratio_to_raw": per_s / raw["per_s"] if raw["per_s"] else None,
        # wrk drops the answers still in flight when its time is up, so the database may
        # hold a few more orders than wrk counted; every order holds exactly one unit.
        "no_oversell": placed == taken and placed >= data["ok"],
    }
    print(
        f"   hot SKU  {args.hot_clients:>3} clients: {per_s:9.1f} orders/s "
        f"(raw row {raw['per_s']:.0f}/s), placed {placed}, units taken {taken}",
        flush=True,
    )
    return row


def measure_availability(chain, url, args) -> dict:
    out = {}
    cases = {
        "one_sku_all_locations": {"BENCH_BASKET": "1"},
        "basket_20_near": {"BENCH_BASKET": "20", "BENCH_RADIUS_KM": "50"},
    }
    for name, extra in cases.items():
        run_wrk(
            url=url,
            script="availability.lua",
            connections=1,
            seconds=1,
            env=checkout_env(chain, **extra),
        )
        data = run_wrk(
            url=url,
            script="availability.lua",
            connections=1,
            seconds=args.availability_seconds,
            env=checkout_env(chain, **extra),
        )
        out[name] = {
            "requests_per_s": data["ok"] / (data["duration_us"] / 1e6),
            "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "requests": data["requests"],
            "errors_non_2xx": data["other_status"] + data["conflicts"],
        }
        print(
            f"   availability {name}: p50 {out[name]['p50_ms']:.1f} ms "
            f"p99 {out[name]['p99_ms']:.1f} ms",
            flush=True,
        )
    return out


def measure_routing(env, args) -> dict:
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).with_name("routing_probe.py")),
         "--repeat", str(args.routing_repeat)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode:
        return {"error": (result.stderr or result.stdout)[-2000:]}
    data = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"   routing 5 lines over {data['candidates_mean']:.0f} candidates: "
        f"route p99 {data['route_ms_p99']:.2f} ms, snapshot p99 {data['snapshot_ms_p99']:.1f} ms, "
        f"decision {data['decision_bytes_max']} bytes",
        flush=True,
    )
    return data


def profile_checkout(db, chain, stack, url, args, out: Path) -> str | None:
    from stack import descendants

    spy = Path(sys.executable).with_name("py-spy")
    workers = descendants(stack.pid("gunicorn"))
    if not spy.exists() or not workers:
        return None
    target = out / "checkout-flame.svg"
    seconds = max(2, round(args.seconds))
    proc = subprocess.Popen(  # noqa: S603 - py-spy on our own worker
        [str(spy), "record", "--pid", str(workers[0]), "--duration", str(seconds),
         "--format", "flamegraph", "--output", str(target), "--nonblocking"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    run_wrk(
        url=url,
        script="checkout.lua",
        connections=min(16, max(args.levels)),
        seconds=seconds,
        env=checkout_env(chain, BENCH_MODE="ship", BENCH_LINES=str(args.lines)),
    )
    output, _ = proc.communicate(timeout=seconds + 60)
    settle(db)
    if not target.exists():
        print(f"   py-spy produced no flame graph:\n{output[-1000:]}", flush=True)
        return None
    return target.name


def verify_stock(env) -> dict:
    result = manage(env, "verify_stock", check=False)
    return {"ok": result.returncode == 0, "output": (result.stdout + result.stderr)[-2000:]}


def settle(db: BenchDatabase, *, quiet: float = 1.0, timeout: float = 60) -> None:
    """Wait until the requests wrk left in flight have been answered: no order written for
    `quiet` seconds. (wrk stops counting when its time is up; the server still works on
    what was sent, and that must not leak into the next measurement.)"""
    deadline = time.monotonic() + timeout
    with db.connect(autocommit=True) as conn:
        last = None
        while time.monotonic() < deadline:
            count = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
            if count == last:
                return
            last = count
            time.sleep(quiet)


def orders_per_s(db: BenchDatabase, since: datetime, seconds: float) -> float:
    """Orders committed in the `seconds` after `since`, per second: the database's count,
    not wrk's (wrk stops counting when its time is up, and stops only when an answer comes
    back, so with slow answers its own window is longer than asked)."""
    window = max(1, round(seconds))
    with db.connect(autocommit=True) as conn:
        count = conn.execute(
            "SELECT count(*) FROM orders_order WHERE created_at >= %s"
            " AND created_at < %s + make_interval(secs => %s)",
            [since, since, window],
        ).fetchone()[0]
    return count / window


def db_now(db: BenchDatabase) -> datetime:
    with db.connect(autocommit=True) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


# --- one scale -----------------------------------------------------------------------------


def with_stack(db, args, env, log_dir: Path, body):
    """Start gunicorn and the worker, run `body(stack, url)`, stop them whatever happens."""
    stack = Stack(env=env, log_dir=log_dir)
    try:
        port = free_port(args.port)
        stack.gunicorn(port=port, workers=args.workers)
        stack.celery_worker(
            concurrency=args.worker_concurrency,
            name=f"{env['CELERY_TASK_DEFAULT_QUEUE']}@localhost",
        )
        return body(stack, f"http://127.0.0.1:{port}")
    finally:
        stack.stop()


def run_main_scale(db, args, env, out: Path) -> dict:
    chain = prepare_chain(db, env, args.main_scale, top_up=args.top_up)
    results: dict = {"seed_seconds": chain.seed_seconds, "hot_store": chain.hot_store}
    if "ceiling" not in args.skipped:
        results["ceiling"] = measure_ceiling(db, chain, args, out / "pgbench")

    def body(stack, url):
        if "checkout" not in args.skipped:
            with BacklogSampler(db) as sampler:
                results["checkout"] = measure_checkout(db, chain, stack, url, args, sampler)
            results["backlog_series"] = sampler.samples
        if args.profile:
            results["profile"] = profile_checkout(db, chain, stack, url, args, out)
        if "hot" not in args.skipped:
            results["hot_sku"] = measure_hot(db, chain, url, args, out / "pgbench")
            BacklogSampler(db).drain(args.drain_timeout)
        if "availability" not in args.skipped:
            results["availability"] = measure_availability(chain, url, args)

    with_stack(db, args, env, out, body)
    if "routing" not in args.skipped:
        results["routing"] = measure_routing(env, args)
    results["verify_stock"] = verify_stock(env)
    print(f"   verify_stock: {'clean' if results['verify_stock']['ok'] else 'BREACH'}", flush=True)
    return results


def run_comparison_scale(db, args, env, out: Path, scale: Scale) -> dict:
    chain = prepare_chain(db, env, scale, top_up=args.top_up)
    clients = args.scale_clients

    def body(stack, url):
        gunicorn = stack.pid("gunicorn")
        server0 = cpu_seconds(gunicorn)
        since = db_now(db)
        data = run_wrk(
            url=url,
            script="checkout.lua",
            connections=clients,
            seconds=args.seconds,
            env=checkout_env(chain, BENCH_MODE="ship", BENCH_LINES=str(args.lines)),
        )
        settle(db)
        server1 = cpu_seconds(gunicorn)
        per_s = orders_per_s(db, since, args.seconds)
        print(f"   checkout {clients} clients at {scale.label}: {per_s:.1f} orders/s", flush=True)
        return {
            "locations": scale.locations,
            "skus": scale.skus,
            "clients": clients,
            "orders_per_s": per_s,
            "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "orders": data["ok"],
            "conflicts_409": data["conflicts"],
            "errors_non_2xx": data["other_status"],
            "server_cpu_ms_per_order": 1000 * (server1 - server0) / max(data["ok"], 1),
            "seed_seconds": chain.seed_seconds,
        }

    return with_stack(db, args, env, out, body)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    db = harness.bench_database(args.database_url)
    harness.require_connections(db, max(max(args.levels), args.hot_clients) + args.workers + 8)
    redis_url = args.redis_url or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS_DIR / stamp
    out.mkdir(parents=True, exist_ok=True)
    var_dir = tempfile.mkdtemp(prefix="omnistock-bench-")
    # A queue of this run's own: another run or the test suite on the same Redis db never
    # takes its tasks.
    env = app_environment(
        db, redis_url=redis_url, var_dir=var_dir, queue=f"bench-{uuid.uuid4().hex[:8]}"
    )
    # Ctrl-C and SIGTERM unwind through every `finally`, which stops what was started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = datetime.now(UTC)
    results: dict = {
        "meta": {
            "started": started.isoformat(),
            "scale": args.main_scale.name,
            "locations": args.main_scale.locations,
            "skus": args.main_scale.skus,
            "clients": args.levels,
            "seconds_per_level": args.seconds,
            "lines_per_order": args.lines,
            "gunicorn_workers": args.workers,
            "celery_concurrency": args.worker_concurrency,
            "load_average_start": os.getloadavg()[0],
        }
    }
    code = 0
    try:
        results.update(run_main_scale(db, args, env, out))
        results["meta"]["server"] = server_facts(db)
        results["scales"] = []
        for scale in args.comparison:
            if scale == args.main_scale:
                continue
            results["scales"].append(run_comparison_scale(db, args, env, out, scale))
        code = 0 if results["verify_stock"]["ok"] else 1
    except KeyboardInterrupt:
        print("interrupted: stopped every process this run started", flush=True)
        code = 130
    finally:
        if not args.keep_db:
            harness.drop_database(db)
        results["meta"]["finished"] = datetime.now(UTC).isoformat()
        results["meta"]["load_average_end"] = os.getloadavg()[0]
        results["meta"]["pids"] = stack_module.STARTED
        report.write(results, out, plots=args.plots)
        if out.parent == RESULTS_DIR:
            # The copy the repository keeps (the README's performance section quotes it).
            (RESULTS_DIR / "latest.md").write_text((out / "results.md").read_text())
        print(f"\nResults in {out}")
    return code


def server_facts(db: BenchDatabase) -> dict:
    with db.connect() as conn:
        facts = {"postgres": conn.execute("SHOW server_version").fetchone()[0]}
        for name in ("synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            facts[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    facts["cpu_cores"] = os.cpu_count()
    facts["python"] = sys.version.split()[0]
    return facts


if __name__ == "__main__":
    sys.exit(main())
