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
   each, at the same client counts; then orders arriving at given rates (`--arrival-rate`,
   open loop: a peak hour's customers do not wait for each other); the outbox backlog
   sampled throughout, the release latency (checkout commit -> fulfillment order) read from
   the database timestamps;
5. the hot SKU (one SKU at one store, pickup, over HTTP) next to the raw hot-row rate and
   the same orders spread over every SKU;
   availability over HTTP (1 SKU across the chain, a 20-SKU basket near a point); routing
   a 5-line ship order in process; `verify_stock`;
6. with `--scale large` or `--scales`, the same checkout mix at other chain sizes, each chain
   seeded once into a database of its own, in `--scale-rounds` rounds that measure every
   scale in turn (each scale's median round kept).

Results go to bench/results/<timestamp>/ (results.json, results.md, PNG plots) and the
table is printed. See bench/README.md.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import harness
import report
import stack as stack_module
from background import BacklogSampler
from ceiling import measure_ceiling
from harness import BASE_DIR, DEFAULT_REDIS_URL, BenchDatabase
from load import (
    measure_availability,
    measure_checkout,
    measure_hot,
)
from profiling import profile_checkout
from scales import (
    LARGE_COMPARISON,
    Chain,
    app_environment,
    parse_scale,
    prepare_chain,
    verify_stock,
)
from stack import Stack, free_port
from upkeep import Upkeep

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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
    parser.add_argument(
        "--arrival-rate",
        default="50,100",
        help="comma list of orders/s arriving on their own (open loop) after the levels, a "
        "level each; 0: none",
    )
    parser.add_argument("--hot-clients", type=int, default=64)
    parser.add_argument("--hot-seconds", type=float, default=None, help="default --seconds")
    parser.add_argument("--scale-clients", type=int, default=16, help="for the comparison")
    parser.add_argument(
        "--scale-rounds", type=int, default=3, help="rounds of the comparison (medians kept)"
    )
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
    parser.add_argument(
        "--profile", action="store_true", help="flame graphs, profile.md: a load not counted"
    )
    parser.add_argument(
        "--skip", default="", help="comma list: ceiling,checkout,hot,availability,routing"
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-plots", dest="plots", action="store_false")
    args = parser.parse_args(argv)
    args.levels = [int(n) for n in args.clients.split(",")]
    args.arrival_rates = [rate for rate in map(float, args.arrival_rate.split(",")) if rate > 0]
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
        f"   routing 5 lines, {data['locations_mean']:.0f} locations considered "
        f"({data['nearest_only_share']:.0%} nearest only), "
        f"{data['candidates_mean']:.0f} candidates: snapshot + route p99 "
        f"{data['total_ms_p99']:.2f} ms (route {data['route_ms_p99']:.2f} ms), "
        f"decision {data['decision_bytes_max']} bytes; whole-chain snapshot p99 "
        f"{data['whole_chain_snapshot_ms_p99']:.1f} ms",
        flush=True,
    )
    return data


# --- one scale -----------------------------------------------------------------------------


def with_stack(db, args, env, log_dir: Path, body):
    """Start gunicorn and the worker, run `body(stack, url)`, stop them whatever happens;
    meanwhile the tables are analyzed as autovacuum would (see upkeep)."""
    stack = Stack(env=env, log_dir=log_dir)
    try:
        port = free_port(args.port)
        stack.gunicorn(port=port, workers=args.workers)
        stack.celery_worker(
            concurrency=args.worker_concurrency,
            name=f"{env['CELERY_TASK_DEFAULT_QUEUE']}@localhost",
        )
        with Upkeep(db) as upkeep:
            result = body(stack, f"http://127.0.0.1:{port}")
        if upkeep.needed:
            print(
                f"   upkeep (autovacuum is off): {upkeep.done.analyzed} analyzes of a table, "
                f"{upkeep.done.vacuumed} of them with a vacuum",
                flush=True,
            )
        return result
    finally:
        stack.stop()


def run_main_scale(db, args, env, out: Path) -> tuple[dict, Chain]:
    chain = prepare_chain(db, env, args.main_scale, top_up=args.top_up)
    results: dict = {"seed_seconds": chain.seed_seconds, "hot_store": chain.hot_store}
    if "ceiling" not in args.skipped:
        results["ceiling"] = measure_ceiling(db, chain, args, out / "pgbench")

    def body(stack, url):
        if "checkout" not in args.skipped:
            with BacklogSampler(db) as sampler:
                rows = measure_checkout(db, chain, stack, url, args, sampler, arriving=True)
            results["checkout"] = [row for row in rows if "offered_per_s" not in row]
            results["checkout_arriving"] = [row for row in rows if "offered_per_s" in row]
            results["backlog_series"] = sampler.samples
        if "hot" not in args.skipped:
            results["hot_sku"] = measure_hot(db, chain, url, args, out / "pgbench")
            BacklogSampler(db).drain(args.drain_timeout)
        if "availability" not in args.skipped:
            results["availability"] = measure_availability(chain, url, args)

    with_stack(db, args, env, out, body)
    if args.profile:
        # A stack of its own: its sessions start after statement logging is switched on.
        results["profile"] = profile_checkout(
            db, chain, args, out, lambda profiled: with_stack(db, args, env, out, profiled)
        )
    if "routing" not in args.skipped:
        results["routing"] = measure_routing(env, args)
    results["verify_stock"] = verify_stock(env)
    print(f"   verify_stock: {'clean' if results['verify_stock']['ok'] else 'BREACH'}", flush=True)
    return results, chain


@dataclass(frozen=True)
class Place:
    """A chain of the comparison, in a database of its own, and the app's environment on it."""

    db: BenchDatabase
    env: dict
    chain: Chain


def run_comparison(db, chain, args, env, out: Path, made: list[BenchDatabase]) -> list[dict]:
    """The same order mix at every scale of the comparison (the main one among them), each
    chain seeded once into a database of its own (`made`, dropped by the caller), then
    `--scale-rounds` rounds, each measuring every scale in turn on a stack of its own. A
    scale's row is its median round, with every round's orders/s: the machine's speed moves
    within minutes, and rounds taken in turn meet the same moments, so the medians compare
    the scales rather than the minutes each was measured in."""
    others = [scale for scale in args.comparison if scale != args.main_scale]
    if not others:
        return []
    places = [Place(db, env, chain)]
    for scale in others:
        scale_db = harness.sibling_database(db, scale.name.lower())
        made.append(scale_db)
        scale_env = {**env, "DATABASE_URL": scale_db.url}
        places.append(
            Place(
                scale_db, scale_env, prepare_chain(scale_db, scale_env, scale, top_up=args.top_up)
            )
        )
    rounds: list[list[dict]] = [[] for _ in places]
    for number in range(1, args.scale_rounds + 1):
        print(f"== scale comparison, round {number} of {args.scale_rounds}", flush=True)
        for place, measured in zip(places, rounds, strict=True):
            measured.append(measure_scale(place, args, out))
    rows = []
    for place, measured in zip(places, rounds, strict=True):
        by_rate = sorted(measured, key=lambda row: row["orders_per_s"])
        median = by_rate[(len(by_rate) - 1) // 2]
        check = verify_stock(place.env)
        rows.append(
            {
                **median,
                "main": place.db == db,
                "rounds_orders_per_s": [row["orders_per_s"] for row in measured],
                "seed_seconds": place.chain.seed_seconds,
                "verify_stock_ok": check["ok"],
            }
        )
        if not check["ok"]:
            print(f"   verify_stock at {place.chain.scale.label}: BREACH", flush=True)
    return rows


def measure_scale(place: Place, args, out: Path) -> dict:
    """One round of one scale: `--scale-clients` connections, measured as a level above
    (warmed up first, CPU until drained)."""
    scale, clients = place.chain.scale, args.scale_clients

    def body(stack, url):
        with BacklogSampler(place.db) as sampler:
            [row] = measure_checkout(
                place.db, place.chain, stack, url, args, sampler, levels=[clients]
            )
        print(
            f"   checkout {clients} clients at {scale.label}: {row['orders_per_s']:.1f} orders/s",
            flush=True,
        )
        return {"locations": scale.locations, "skus": scale.skus, **row}

    return with_stack(place.db, args, place.env, out, body)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    db = harness.bench_database(args.database_url)
    harness.require_connections(db, max(max(args.levels), args.hot_clients) + args.workers + 8)
    redis_url = harness.bench_redis_url(args.redis_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS_DIR / stamp
    out.mkdir(parents=True, exist_ok=True)
    var_dir = tempfile.mkdtemp(prefix="omnistock-bench-")
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
    # A queue of this run's own: another run or the test suite on the same Redis db never
    # takes its tasks.
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = app_environment(db, redis_url=redis_url, var_dir=var_dir, queue=queue)
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
            "queue": queue,
        }
    }
    code = 0
    made: list[BenchDatabase] = []  # the comparison's databases beside `db`
    try:
        main_results, chain = run_main_scale(db, args, env, out)
        results.update(main_results)
        results["meta"]["server"] = server_facts(db)
        results["scales"] = run_comparison(db, chain, args, env, out, made)
        clean = results["verify_stock"]["ok"] and all(
            row["verify_stock_ok"] for row in results["scales"]
        )
        code = 0 if clean else 1
    except KeyboardInterrupt:
        print("interrupted: stopped every process this run started", flush=True)
        code = 130
    finally:
        if not args.keep_db:
            for made_db in [db, *made]:
                harness.drop_database(made_db)
        harness.forget_queue(redis_url, queue)  # every process that used it has stopped
        results["meta"]["finished"] = datetime.now(UTC).isoformat()
        results["meta"]["load_average_end"] = os.getloadavg()[0]
        results["meta"]["pids"] = stack_module.STARTED
        report.write(results, out, plots=args.plots)
        if out.parent == RESULTS_DIR:
            # The copy the repository keeps (the README's performance section quotes it).
            (RESULTS_DIR / "latest.md").write_text(kept_copy((out / "results.md").read_text(), out))
        print(f"\nResults in {out}")
    return code


def kept_copy(markdown: str, out: Path) -> str:
    """results.md for bench/results/latest.md: its links to the run's own files (profile,
    flame graphs), which the repository does not keep, name them in the run's folder."""
    return re.sub(r"\[([^\]]+)\]\(([^)/:]+)\)", rf"`bench/results/{out.name}/\2`", markdown)


def server_facts(db: BenchDatabase) -> dict:
    settings = harness.postgres_settings(
        db,
        ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections",
         "autovacuum"),
    )  # fmt: skip
    facts = {"postgres": settings.pop("server_version"), **settings}
    facts["cpu_cores"] = os.cpu_count()
    facts["python"] = sys.version.split()[0]
    return facts


if __name__ == "__main__":
    sys.exit(main())
