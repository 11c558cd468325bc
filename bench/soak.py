"""`make soak`: the product under a few minutes of mixed traffic, then every invariant checked.

One invocation prepares everything itself and stops everything it started:

1. a throw-away bench database (its name must contain `bench`), migrated and seeded by
   `manage.py seed_demo` (`--scale`, default 12 stores and 2 warehouses x 200 SKUs), stock
   topped up through ledger rows, and one SKU left almost sold out at one pickup store;
2. gunicorn serving `config.wsgi` with production settings on 127.0.0.1 and a real Celery
   worker on Redis (a queue of this run's own) doing every after-commit job: release,
   re-routing, captures, mail (to files, where the customers' pickup codes are read);
3. `--clients` threads, each a loop of user journeys over the REST API for `--minutes`:
   ship orders accepted, picked, packed and shipped by the location the order went to;
   pickups made ready and handed over against the code in the customer's mail; rejections
   (a ship order re-routed, a pickup cancelled); cancels of a whole order or of a line;
   returns at any store (at the counter, or opened online and dropped off), inspected and
   refunded; checkouts of the almost sold-out SKU (201 or a clean 409); Idempotency-Key
   replays (the first answer again; another body is a 422);
4. the checks: no 5xx and no request without an answer, every 201 checkout an order in the
   database, every other checkout a 4xx in the error shape, every journey step answered as
   a user expects, the outbox empty within `--drain-timeout`, no ERROR or traceback in the
   servers' logs, and `verify_stock`,
   `verify_money`, `verify_payments`, `verify_points` clean.

Results go to bench/results/soak-<timestamp>/ (results.json, results.md); the exit status is
1 on any breach. See bench/README.md.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import harness
import stack as stack_module
from background import BacklogSampler
from harness import BASE_DIR, DEFAULT_REDIS_URL
from scales import Scale, app_environment, parse_scale, prepare_chain
from soak_journeys import JOURNEYS, Recorder, World, run_client
from stack import Stack, free_port
from upkeep import Upkeep

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SCALE = Scale("soak", 12, 2, 200)
VERIFY_COMMANDS = ("verify_stock", "verify_money", "verify_payments", "verify_points")
FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3, help="of traffic (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--scale", default=None, help="smoke, small or LOCxSKUS (default 14x200)")
    parser.add_argument("--seed", type=int, default=None, help="of the clients' choices")
    parser.add_argument("--request-timeout", type=float, default=15, help="seconds per request")
    parser.add_argument("--step-timeout", type=float, default=30, help="wait for the worker")
    parser.add_argument("--drain-timeout", type=float, default=60, help="outbox drain wait")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery pool")
    parser.add_argument("--top-up", type=int, default=10_000, help="units added per row")
    parser.add_argument("--scarce-units", type=int, default=3, help="of the sold-out SKU")
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (0: any free)")
    parser.add_argument(
        "--database-url", help=f"default $DATABASE_URL or {harness.DEFAULT_DATABASE_URL}"
    )
    parser.add_argument("--redis-url", help=f"default $BENCH_REDIS_URL or {DEFAULT_REDIS_URL}")
    parser.add_argument("--out", type=Path, default=None, help="result folder")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    args.chain = parse_scale(args.scale) if args.scale else DEFAULT_SCALE
    args.seed = args.seed if args.seed is not None else int(time.time())
    return args


def soak_world(env: dict, args, url: str, mail_dir: Path) -> World:
    """Tokens, SKUs and the sold-out SKU, from `soak_setup.py` on the bench database."""
    result = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            str(Path(__file__).with_name("soak_setup.py")),
            "--scarce-units",
            str(args.scarce_units),
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"soak_setup.py failed:\n{result.stdout}{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return World(
        url=url,
        web_token=data["web"],
        locations=data["locations"],
        skus=data["skus"],
        scarce=data["scarce"],
        mail_dir=mail_dir,
        request_timeout=args.request_timeout,
        step_timeout=args.step_timeout,
    )


def run_traffic(world: World, args, recorder: Recorder) -> float:
    """The clients' journeys for `--minutes`; every thread joined by a hard deadline."""
    seconds = args.minutes * 60
    stop_at = time.monotonic() + seconds
    # A journey begun before the end finishes; none may run past this.
    hard_deadline = stop_at + args.step_timeout * 4 + args.request_timeout * 2
    threads = [
        threading.Thread(
            target=run_client,
            kwargs={
                "index": index,
                "world": world,
                "recorder": recorder,
                "seed": args.seed + index,
                "stop_at": stop_at,
                "deadline": hard_deadline,
            },
            daemon=True,
        )
        for index in range(args.clients)
    ]
    started = time.monotonic()
    print(f"== {args.clients} clients for {seconds:.0f} s (seed {args.seed})", flush=True)
    for thread in threads:
        thread.start()
    next_report = started + 30
    while any(t.is_alive() for t in threads) and time.monotonic() < hard_deadline + 5:
        time.sleep(0.5)
        if time.monotonic() >= next_report:
            print(f"   {time.monotonic() - started:.0f} s: {recorder.progress()}", flush=True)
            next_report += 30
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        recorder.unexpected_answer("client", "deadline", 0, f"{len(stuck)} clients still running")
    return time.monotonic() - started


# --- the checks -----------------------------------------------------------------------------


def check_checkouts(db, recorder: Recorder) -> dict:
    """Every 201 is an order in the database; every other answer a 4xx in the error shape."""
    created = {c["number"] for c in recorder.checkouts if c["status"] == 201}
    with db.connect(autocommit=True) as conn:
        found = {
            row[0]
            for row in conn.execute(
                "SELECT number FROM orders_order WHERE number = ANY(%s)", [sorted(created)]
            )
        }
        orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    missing = sorted(created - found)
    unclean = [
        c
        for c in recorder.checkouts
        if c["status"] != 201
        and not (
            400 <= c["status"] < 500
            and isinstance(c["body"], dict)
            and {"code", "detail"} <= set(c["body"])
        )
    ]
    return {
        "created": len(created),
        "orders_in_database": orders,
        "missing_orders": missing,
        "unclean_refusals": unclean[:50],
        "ok": not missing and not unclean,
    }


def run_verify(env: dict, *, timeout: float = 300) -> dict:
    """The four verify commands, side by side (each its own process, stopped by its pid)."""
    procs = {
        command: subprocess.Popen(  # noqa: S603 - our own manage.py with a fixed command
            [sys.executable, str(BASE_DIR / "manage.py"), command],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for command in VERIFY_COMMANDS
    }  # fmt: skip
    results = {}
    for command, proc in procs.items():
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            output += f"\n(no answer in {timeout:.0f} s: stopped)"
        results[command] = {
            "ok": proc.returncode == 0,
            "exit": proc.returncode,
            "output": output[-2000:],
        }
        print(f"   {command}: {'clean' if proc.returncode == 0 else 'BREACH'}", flush=True)
    return results


def logged_errors(out: Path) -> list[str]:
    """The ERROR, CRITICAL and Traceback lines gunicorn and the worker logged (the first 50):
    a task that failed and was retried answers no client, but is no quiet day either."""
    found = []
    for name in ("gunicorn.log", "celery.log"):
        path = out / name
        if not path.exists():
            continue
        found += [
            f"{name}: {line[:500]}"
            for line in path.read_text(errors="replace").splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]
    return found[:50]


def checks_of(results: dict) -> dict[str, bool]:
    traffic = results.get("traffic", {})
    return {
        "no_5xx": traffic.get("server_errors_count", 1) == 0,
        "every_request_answered": traffic.get("transport_errors_count", 1) == 0,
        "every_checkout_an_order_or_clean_refusal": results.get("checkouts", {}).get("ok", False),
        "journeys_as_expected": traffic.get("unexpected_count", 1) == 0,
        "outbox_drained": results.get("outbox", {}).get("drained", False),
        "no_error_logged": results.get("logged_errors") == [],
        **{
            f"{command}_clean": results.get("verify", {}).get(command, {}).get("ok", False)
            for command in VERIFY_COMMANDS
        },
    }


# --- the report -----------------------------------------------------------------------------


def write_report(results: dict, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    meta, traffic = results["meta"], results.get("traffic", {})
    lines = [
        "# make soak",
        "",
        f"{meta['clients']} clients for {meta['minutes']} min against {meta['chain']}, "
        f"gunicorn {meta['gunicorn_workers']} workers, Celery pool {meta['celery_concurrency']}, "
        f"seed {meta['seed']}; load average {meta['load_average_start']:.2f} at start, "
        f"{meta.get('load_average_end', float('nan')):.2f} at end.",
        "",
        "Seconds per phase: "
        + ", ".join(f"{name} {seconds}" for name, seconds in meta["phase_seconds"].items())
        + ".",
        "",
        "## Checks",
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {name} | {'ok' if ok else 'BREACH'} |" for name, ok in results["checks"].items()],
        "",
    ]
    if traffic:
        lines += [
            f"{traffic['requests']} requests in {traffic['seconds']:.0f} s "
            f"({traffic['requests'] / max(traffic['seconds'], 1):.1f}/s), "
            f"{traffic['journeys_total']} journeys.",
            "",
            "## Journeys",
            "",
            "| journey | started | completed |",
            "|---|---|---|",
            *[
                f"| {name} | {counts['started']} | {counts['completed']} |"
                for name, counts in sorted(traffic["journeys"].items())
            ],
            "",
            "## Answers per journey step",
            "",
            "| journey | step | status | count |",
            "|---|---|---|---|",
            *[
                f"| {row['journey']} | {row['step']} | {row['status']} | {row['count']} |"
                for row in traffic["answers"]
            ],
            "",
        ]
        for title, key in (
            ("5xx answers", "server_errors"),
            ("Requests without an answer", "transport_errors"),
            ("Unexpected answers", "unexpected"),
        ):
            if traffic.get(key):
                lines += [f"## {title}", ""]
                lines += [f"- `{json.dumps(item, default=str)[:600]}`" for item in traffic[key]]
                lines.append("")
    if results.get("logged_errors"):
        lines += ["## Errors logged", "", "```", *results["logged_errors"], "```", ""]
    checkouts = results.get("checkouts")
    if checkouts:
        lines += [
            f"Checkouts: {checkouts['created']} created (all in the database: "
            f"{'yes' if not checkouts['missing_orders'] else 'NO'}), "
            f"{len(checkouts['unclean_refusals'])} refusals outside the error shape.",
        ]
    outbox = results.get("outbox")
    if outbox:
        drained = outbox["drain_s"]
        lines.append(
            f"Outbox: {outbox['backlog_at_stop']} unprocessed when the traffic stopped, "
            + (f"empty {drained:.1f} s later." if drained is not None else "NOT drained.")
        )
    if results.get("error"):
        lines += ["", "## The run failed", "", "```", results["error"][-3000:], "```"]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    print("\n" + text, flush=True)


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    db = harness.bench_database(args.database_url)
    harness.require_connections(db, args.workers + args.worker_concurrency + 12)
    redis_url = harness.bench_redis_url(args.redis_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS_DIR / f"soak-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix="omnistock-soak-"))
    mail_dir = var_dir / "mail"
    mail_dir.mkdir()
    queue = f"soak-{uuid.uuid4().hex[:8]}"
    env = app_environment(db, redis_url=redis_url, var_dir=str(var_dir), queue=queue)
    # The customers' mail lands in files, where the clients read their pickup codes.
    env.update({"EMAIL_BACKEND": FILE_EMAIL_BACKEND, "EMAIL_FILE_PATH": str(mail_dir)})
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results: dict = {
        "meta": {
            "started": datetime.now(UTC).isoformat(),
            "minutes": args.minutes,
            "clients": args.clients,
            "chain": args.chain.label,
            "seed": args.seed,
            "queue": queue,
            "gunicorn_workers": args.workers,
            "celery_concurrency": args.worker_concurrency,
            "journeys": sorted(JOURNEYS),
            "load_average_start": os.getloadavg()[0],
        }
    }
    recorder = Recorder()
    phases = results["meta"]["phase_seconds"] = {}
    clock = [time.monotonic()]

    def phase(name: str) -> None:
        now = time.monotonic()
        phases[name] = round(now - clock[0], 1)
        clock[0] = now

    code = 1
    stack = Stack(env=env, log_dir=out)
    try:
        prepare_chain(db, env, args.chain, top_up=args.top_up)
        phase("database")
        port = free_port(args.port)
        stack.gunicorn(port=port, workers=args.workers)
        stack.celery_worker(
            concurrency=args.worker_concurrency,
            name=f"{env['CELERY_TASK_DEFAULT_QUEUE']}@localhost",
        )
        world = soak_world(env, args, f"http://127.0.0.1:{port}", mail_dir)
        phase("servers_and_tokens")
        with Upkeep(db):  # the tables analyzed as autovacuum would (see upkeep.py)
            seconds = run_traffic(world, args, recorder)
        phase("traffic")
        sampler = BacklogSampler(db)
        backlog = sampler.now()
        drain = sampler.drain(args.drain_timeout)
        results["outbox"] = {
            "backlog_at_stop": backlog,
            "drain_s": drain,
            "drained": drain is not None,
        }
        results["traffic"] = recorder.summary(seconds)
        results["checkouts"] = check_checkouts(db, recorder)
        phase("drain_and_checkouts")
        stack.stop()
        results["logged_errors"] = logged_errors(out)
        results["verify"] = run_verify(env)
        phase("verify")
    except KeyboardInterrupt:
        print("interrupted: stopped every process this run started", flush=True)
        results["error"] = "interrupted"
        code = 130
    except Exception as exc:  # reported, and the run fails
        results["error"] = f"{type(exc).__name__}: {exc}"
        print(f"soak failed: {results['error'][-3000:]}", flush=True)
    finally:
        stack.stop()
        if not args.keep_db:
            harness.drop_database(db)
        harness.forget_queue(redis_url, queue)
        results.setdefault("traffic", recorder.summary(0) if recorder.calls else {})
        results["checks"] = checks_of(results)
        results["ok"] = all(results["checks"].values()) and "error" not in results
        results["meta"]["finished"] = datetime.now(UTC).isoformat()
        results["meta"]["load_average_end"] = os.getloadavg()[0]
        results["meta"]["pids"] = stack_module.STARTED
        write_report(results, out)
        print(f"Results in {out}", flush=True)
    if code == 130:
        return code
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
