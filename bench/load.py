"""The load over HTTP: wrk against gunicorn, and what each measurement makes of its runs.

wrk runs a Lua script of lua/ (a checkout or an availability query per request) and prints
one JSON summary; the measurements add the database's own counts and the servers' CPU.
"""

import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import ceiling
from background import BacklogSampler, db_now, orders_per_s, release_latencies, settle
from harness import BenchDatabase
from scales import Chain, receive_stock
from stack import cpu_seconds, machine_busy
from usage import UsageMeter
from usage import per_order as usage_per_order

LUA_DIR = Path(__file__).resolve().parent / "lua"
HOT_SKU = "SKU-00001"


def run_wrk(
    *, url: str, script: str, connections: int, seconds: float, env: dict[str, str]
) -> dict:
    """wrk at `connections`; its JSON summary, plus its own CPU and the machine's."""
    threads = max(1, min(connections, 2))
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "30s", "-s", str(LUA_DIR / script), url,
    ]  # fmt: skip
    data = run_load(command, env={**env, "BENCH_LUA_DIR": str(LUA_DIR)})
    data["connections"] = connections
    return data


def run_load(command: list[str], *, env: dict[str, str]) -> dict:
    """A load generator (wrk, open_loop.py) that prints `BENCH_RESULT {json}`: that summary,
    plus the generator's own CPU (its rusage) and the machine's."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = machine_busy()
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own fixed commands
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    busy1, total1 = machine_busy()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if result.returncode or not lines:
        raise RuntimeError(
            f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    data = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime) + (
        after_children.ru_stime - before_children.ru_stime
    )
    cores = os.cpu_count() or 1
    data.update(
        {
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


def ship_checkout(url: str, chain: Chain, args, *, connections: int, seconds: float) -> dict:
    """wrk placing `--lines`-line ship orders of random SKUs."""
    return run_wrk(
        url=url,
        script="checkout.lua",
        connections=connections,
        seconds=seconds,
        env=checkout_env(chain, BENCH_MODE="ship", BENCH_LINES=str(args.lines)),
    )


def arriving_checkout(url: str, chain: Chain, args, *, rate: float, seconds: float) -> dict:
    """open_loop.py: the same orders arriving at `rate` a second, each on a connection of its
    own, timed from its arrival."""
    command = [
        sys.executable, str(Path(__file__).with_name("open_loop.py")), url,
        "--rate", str(rate), "--seconds", str(seconds), "--token", chain.token,
        "--skus", str(chain.scale.skus), "--lines", str(args.lines),
        "--bbox", ",".join(str(v) for v in chain.bbox),
    ]  # fmt: skip
    return run_load(command, env={})


def wrk_latency(data: dict) -> dict:
    """wrk's p50 and p99, in ms."""
    return {"p50_ms": data["p50_us"] / 1000, "p99_ms": data["p99_us"] / 1000}


def per_order_ms(cpu_before: float, cpu_after: float, data: dict) -> float:
    """CPU ms per order wrk saw answered."""
    return 1000 * (cpu_after - cpu_before) / max(data["ok"], 1)


def measure_checkout(
    db,
    chain,
    stack,
    url,
    args,
    sampler: BacklogSampler,
    levels: list[int] | None = None,
    *,
    arriving: bool = False,
) -> list[dict]:
    """Each level of `levels` (default `args.levels`) on a stack warmed up first; with
    `arriving`, then each of the `--arrival-rate` rates of orders arriving on their own (open
    loop), the last rows, marked by their `offered_per_s`."""
    processes = stack.pid("gunicorn"), stack.pid("celery")
    # Every gunicorn worker's first requests (imports, connections) are not the steady state.
    ship_checkout(url, chain, args, connections=args.workers, seconds=min(args.seconds, 2))
    settle(db)
    sampler.drain(args.drain_timeout)
    with UsageMeter(db, stack.env["REDIS_URL"]) as meter:
        rows = [
            measure_level(db, chain, url, args, clients, sampler, meter, processes)
            for clients in levels or args.levels
        ]
        if arriving:
            rows += [
                measure_level(db, chain, url, args, 0, sampler, meter, processes, rate=rate)
                for rate in args.arrival_rates
            ]
    return rows


def measure_level(
    db,
    chain,
    url,
    args,
    clients: int,
    sampler: BacklogSampler,
    meter: UsageMeter,
    processes,
    *,
    rate: float = 0,
) -> dict:
    """One checkout level: `clients` connections each sending its next order when its last
    is answered, or given `rate` orders arriving at that rate; the CPU of the servers and
    the machine until the outbox drained."""
    gunicorn, celery = processes
    since = db_now(db)
    server0, worker0 = cpu_seconds(gunicorn), cpu_seconds(celery)
    usage0 = meter.sample()
    if rate:
        data = arriving_checkout(url, chain, args, rate=rate, seconds=args.seconds)
    else:
        data = ship_checkout(url, chain, args, connections=clients, seconds=args.seconds)
    stopped = time.monotonic()
    backlog_end = sampler.now()
    settle(db)
    server1 = cpu_seconds(gunicorn)
    until = db_now(db)
    drain = sampler.drain_since(stopped, backlog=backlog_end, timeout=args.drain_timeout)
    worker1 = cpu_seconds(celery)
    usage1 = meter.sample()
    seconds = data["duration_us"] / 1e6
    row = {
        "clients": clients,
        "orders_per_s": orders_per_s(db, since, args.seconds),
        "wrk_orders_per_s": data["ok"] / seconds,
        "wrk_seconds": seconds,
        **wrk_latency(data),
        "requests": data["requests"],
        "orders": data["ok"],
        "conflicts_409": data["conflicts"],
        "errors_non_2xx": data["other_status"],
        "socket_errors": data["socket_errors"] + data["timeouts"],
        "wrk_cpu_share": data["wrk_cpu_share"],
        "wrk_share_of_busy": data["wrk_share_of_busy"],
        "machine_busy_share": data["machine_busy_share"],
        "server_cpu_ms_per_order": per_order_ms(server0, server1, data),
        "worker_cpu_ms_per_order": per_order_ms(worker0, worker1, data),
        **usage_per_order(usage0, usage1, data["ok"]),
        "wrk_cpu_ms_per_order": per_order_ms(0, data["wrk_cpu_s"], data),
        "backlog_at_end": backlog_end,
        "drain_s": drain,
        **release_latencies(db, since, until),
    }
    if rate:
        row |= {
            "offered_per_s": rate,
            "p90_ms": data["p90_us"] / 1000,
            "max_in_flight": data["max_in_flight"],
        }
    if data["stderr"].strip():
        row["wrk_stderr"] = data["stderr"]
    who = f"{rate:g}/s arriving" if rate else f"{clients:>3} clients"
    print(
        f"   checkout {who}: {row['orders_per_s']:9.1f} orders/s "
        f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, 409 {row['conflicts_409']}, "
        f"other {row['errors_non_2xx']}, backlog {backlog_end} drained in "
        f"{'-' if drain is None else f'{drain:.1f} s'}",
        flush=True,
    )
    return row


def measure_hot(db: BenchDatabase, chain: Chain, url, args, work: Path) -> dict:
    with db.connect(autocommit=True) as conn:
        query = "SELECT id FROM inventory_sku WHERE code = %s"
        sku_id = conn.execute(query, [HOT_SKU]).fetchone()[0]
        # Enough on the shelf that nobody is turned away: every order takes one unit.
        hot = (chain.hot_store_id, chain.hot_store_id)
        receive_stock(conn, quantity=1_000_000, locations=hot, sku=sku_id)

    def reserved() -> int:
        with db.connect(autocommit=True) as conn:
            return conn.execute(
                "SELECT reserved FROM inventory_stocklevel WHERE location_id = %s AND sku_id = %s",
                [chain.hot_store_id, sku_id],
            ).fetchone()[0]

    raw = ceiling.measure_hot_row(db, chain, sku_id, args, work)
    before, since = reserved(), db_now(db)
    data = pickup_checkout(url, chain, args, BENCH_SKU=HOT_SKU)
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
        "sku": HOT_SKU,
        "orders_per_s": per_s,
        **wrk_latency(data),
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
        **spread_pickups(db, chain, url, args),
    }
    spread = row["spread_orders_per_s"]
    row["ratio_to_spread"] = per_s / spread if spread else None
    print(
        f"   hot SKU  {args.hot_clients:>3} clients: {per_s:9.1f} orders/s "
        f"(raw row {raw['per_s']:.0f}/s; spread over every SKU "
        f"{row['spread_orders_per_s']:.1f}/s), placed {placed}, units taken {taken}",
        flush=True,
    )
    return row


def pickup_checkout(url: str, chain: Chain, args, **extra: str) -> dict:
    """wrk placing 1-unit pickup orders at the hot store, at `--hot-clients`."""
    return run_wrk(
        url=url,
        script="checkout.lua",
        connections=args.hot_clients,
        seconds=args.hot_seconds,
        env=checkout_env(chain, BENCH_MODE="pickup", BENCH_LOCATION=chain.hot_store, **extra),
    )


def spread_pickups(db: BenchDatabase, chain: Chain, url, args) -> dict:
    """The hot SKU's orders at the same store and concurrency, each of a random SKU of the
    chain: what the same orders place when no two wait for one row."""
    with db.connect(autocommit=True) as conn:
        hot = (chain.hot_store_id, chain.hot_store_id)
        receive_stock(conn, quantity=1_000_000, locations=hot)
    since = db_now(db)
    data = pickup_checkout(url, chain, args, BENCH_PICKUP_SKUS=str(chain.scale.skus))
    settle(db)
    return {
        "spread_orders_per_s": orders_per_s(db, since, args.hot_seconds),
        "spread_p50_ms": data["p50_us"] / 1000,
        "spread_p99_ms": data["p99_us"] / 1000,
        "spread_conflicts_409": data["conflicts"],
        "spread_errors_non_2xx": data["other_status"],
    }


def measure_availability(chain: Chain, url, args) -> dict:
    out = {}
    cases = {
        "one_sku_all_locations": {"BENCH_BASKET": "1"},
        "basket_20_near": {"BENCH_BASKET": "20", "BENCH_RADIUS_KM": "50"},
    }
    for name, extra in cases.items():
        # A second of warm-up, then the measurement.
        for seconds in (1, args.availability_seconds):
            data = run_wrk(
                url=url,
                script="availability.lua",
                connections=1,
                seconds=seconds,
                env=checkout_env(chain, **extra),
            )
        out[name] = {
            "requests_per_s": data["ok"] / (data["duration_us"] / 1e6),
            **wrk_latency(data),
            "requests": data["requests"],
            "errors_non_2xx": data["other_status"] + data["conflicts"],
        }
        print(
            f"   availability {name}: p50 {out[name]['p50_ms']:.1f} ms "
            f"p99 {out[name]['p99_ms']:.1f} ms",
            flush=True,
        )
    return out
