"""`--profile`: where the CPU of an order goes, during a checkout load that is not counted.

On a fresh stack (so that every session of the app starts after PostgreSQL was told to log
each statement of the bench database), after a warm-up: py-spy records every gunicorn
worker (`--subprocesses` on the master) and the Celery worker with its pool, twice each at
the same time, as a flame graph SVG and as raw collapsed stacks. It samples only the thread
holding the GIL (`--gil`): py-spy's default, idle threads left out, still counts a worker
blocked in psycopg's wait for PostgreSQL or in a Redis socket read as busy, and those waits
then outweigh the work; a process waiting with the GIL released is not using a CPU. The
collapsed stacks are summed into profile.md, their shares read against the CPU /proc
measured, beside the statements PostgreSQL spent its time on per order.
"""

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import stack as stack_module
from background import BacklogSampler, db_now, settle
from harness import BASE_DIR, BenchDatabase
from load import ship_checkout
from report import fmt, table
from stack import cpu_seconds
from statements import StatementLog
from usage import UsageMeter
from usage import per_order as usage_per_order

SPY = Path(sys.executable).with_name("py-spy")
FRAME = re.compile(r"(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# The project's own packages: the innermost of their frames in a stack is "where in our code".
PROJECT = tuple(f"{path.name}/" for path in BASE_DIR.iterdir() if (path / "__init__.py").is_file())
RATE = 100  # samples per second, py-spy's default
TOP = 15
# Inclusive tables leave out the servers' own loops: frames on nearly every stack.
STEM = 0.9


class Recorder:
    """py-spy recording `pid` and its children into `target` until `stop()`."""

    def __init__(self, pid: int, target: Path, *, form: str):
        self.target = target
        self.proc = subprocess.Popen(  # noqa: S603 - py-spy on our own processes
            [str(SPY), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil",
             "--rate", str(RATE), "--format", form, "--output", str(target)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        stack_module.STARTED.append(self.proc.pid)

    def stop(self) -> str:
        """SIGINT (py-spy writes its file then); its output, or why there is no file."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            output, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate()
        return "" if self.target.exists() else output[-1000:]


def profile_checkout(db: BenchDatabase, chain, args, out: Path, run_stack) -> dict:
    """A checkout load at min(16, max --clients) connections on a fresh stack started by
    `run_stack(body)`; the flame graphs, profile.md and their figures."""
    if not SPY.exists():
        return {"error": f"py-spy is not installed ({SPY})"}
    log = StatementLog(db)
    log.enable()
    try:
        result = run_stack(lambda stack, url: _profiled_load(db, chain, args, out, stack, url, log))
    finally:
        log.disable()
    (out / "profile.md").write_text(markdown(result))
    result["summary"] = "profile.md"
    return result


def _profiled_load(db, chain, args, out: Path, stack, url: str, log: StatementLog) -> dict:
    clients = min(16, max(args.levels))
    seconds = max(2, round(args.seconds))
    ship_checkout(url, chain, args, connections=args.workers, seconds=min(args.seconds, 2))
    settle(db)
    BacklogSampler(db).drain(args.drain_timeout)
    processes = {"gunicorn": stack.pid("gunicorn"), "worker": stack.pid("celery")}
    names = {"gunicorn": "checkout", "worker": "worker"}
    recorders = []
    problems = {}
    try:
        for role, pid in processes.items():
            recorders.append(Recorder(pid, out / f"{names[role]}-flame.svg", form="flamegraph"))
            recorders.append(Recorder(pid, out / f"{names[role]}-stacks.txt", form="raw"))
        with UsageMeter(db, stack.env["REDIS_URL"]) as meter:
            time.sleep(1)  # py-spy finds the processes
            log.start()
            since = db_now(db)
            cpu0 = {role: cpu_seconds(pid) for role, pid in processes.items()}
            usage0 = meter.sample()
            data = ship_checkout(url, chain, args, connections=clients, seconds=seconds)
            settle(db)
            BacklogSampler(db).drain(args.drain_timeout)
            cpu1 = {role: cpu_seconds(pid) for role, pid in processes.items()}
            usage1 = meter.sample()
            until = db_now(db)
    finally:
        for recorder in recorders:
            problem = recorder.stop()
            if problem:
                problems[recorder.target.name] = problem
    with db.connect(autocommit=True) as conn:
        orders = conn.execute(
            "SELECT count(*) FROM orders_order WHERE created_at >= %s AND created_at < %s",
            [since, until],
        ).fetchone()[0]
    cpu_ms = {role: 1000 * (cpu1[role] - cpu0[role]) / max(orders, 1) for role in processes}
    result = {
        "clients": clients,
        "seconds": seconds,
        "orders": orders,
        "wrk_orders": data["ok"],
        "cpu_ms_per_order": {**cpu_ms, **usage_per_order(usage0, usage1, orders)},
        "cpu_seconds": {role: cpu1[role] - cpu0[role] for role in processes},
        "flame_graphs": [
            recorder.target.name
            for recorder in recorders
            if recorder.target.suffix == ".svg" and recorder.target.exists()
        ],
        "processes": {},
        "statements": log.read(orders=orders)[:30],
        "statements_note": log.note,
    }
    if problems:
        result["py_spy_errors"] = problems
    for role in processes:
        stacks = out / f"{names[role]}-stacks.txt"
        if stacks.exists():
            result["processes"][role] = summarise(stacks.read_text(), cpu_ms=cpu_ms[role])
    return result


def summarise(collapsed: str, *, cpu_ms: float) -> dict:
    """Shares of the samples by function, inclusive and self, by package (self), and by the
    innermost project function; each with the CPU ms per order it stands for."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    packages: Counter = Counter()
    project: Counter = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [m for m in map(FRAME.match, stack.split(";")) if m]
        if not frames:
            continue
        samples = int(count)
        total += samples
        keys = [f"{m['function']} ({m['file']})" for m in frames]
        for key in set(keys):
            inclusive[key] += samples
        own[keys[-1]] += samples
        packages[_package(frames[-1]["file"])] += samples
        mine = [key for m, key in zip(frames, keys, strict=True) if m["file"].startswith(PROJECT)]
        project[mine[-1] if mine else "(no project frame)"] += samples

    def top(counter: Counter, *, below: float = 1.0) -> list[dict]:
        rows = [
            {"name": name, "share": n / total, "cpu_ms_per_order": cpu_ms * n / total}
            for name, n in counter.most_common()
            if n / total <= below
        ]
        return rows[:TOP]

    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "cpu_ms_per_order": cpu_ms,
        "inclusive": top(inclusive, below=STEM),
        "self": top(own),
        "self_by_package": top(packages),
        "innermost_project_function": top(project),
    }


def _package(file: str) -> str:
    """`django` of django/db/models/query.py, `json` of json/encoder.py, `<file>` of one file."""
    head, _, rest = file.partition("/")
    return head if rest else file


def markdown(result: dict) -> str:
    ms = result.get("cpu_ms_per_order", {})
    out = [
        "# Where the CPU of an order goes",
        "",
        f"A checkout load of {result.get('seconds')} s, {result.get('clients')} wrk connections, "
        f"on a fresh stack after a warm-up, not counted in results.md: {result.get('orders')} "
        f"orders. py-spy samples the thread holding the GIL {RATE} times a second in every "
        "gunicorn worker and the Celery worker and pool. The CPU per order, measured from "
        "/proc over the load and until the outbox drained (PostgreSQL's includes writing "
        "every statement to its log):",
        "",
    ]
    parts = [
        ("gunicorn", "gunicorn"),
        ("worker", "worker"),
        ("PostgreSQL", "postgres_cpu_ms_per_order"),
        ("exited PostgreSQL backends (any database)", "postgres_exited_cpu_ms_per_order"),
        ("Redis", "redis_cpu_ms_per_order"),
        ("machine busy", "machine_cpu_ms_per_order"),
    ]
    out += table(["", *(name for name, _ in parts), "new PostgreSQL sessions/order"],
                  [["ms per order", *(fmt(ms.get(key)) for _, key in parts),
                    fmt(ms.get("pg_new_sessions_per_order"), 2)]])  # fmt: skip
    for role, title in (("gunicorn", "gunicorn workers"), ("worker", "Celery worker and pool")):
        found = result.get("processes", {}).get(role)
        if not found or not found.get("samples"):
            out += [f"## {title}", "", "No samples.", ""]
            continue
        out += [
            f"## {title}: {fmt(found['cpu_ms_per_order'])} CPU ms per order",
            "",
            f"{found['samples']:,} samples ({fmt(found['samples'] / RATE)} s holding the GIL, "
            "waits for a CPU included) against "
            f"{fmt(result.get('cpu_seconds', {}).get(role))} s of CPU from /proc: the shares "
            "below are read as shares of that CPU.",
            "",
        ]
        for key, label in (
            ("self_by_package", "Self time by package (the running frame's)"),
            ("self", "Top functions by self time"),
            (
                "inclusive",
                f"Top functions by inclusive time (anywhere on the stack; those on "
                f"more than {STEM:.0%} of the stacks, the server's loop, left out)",
            ),
            ("innermost_project_function", "By the innermost project function on the stack"),
        ):
            out += [f"### {label}", ""]
            out += table(
                ["function", "share", "CPU ms/order"],
                [[f"`{row['name']}`", f"{100 * row['share']:.1f}%", fmt(row["cpu_ms_per_order"])]
                 for row in found[key]],
            )  # fmt: skip
    out += ["## PostgreSQL: statements by total time per order", ""]
    statements = result.get("statements") or []
    if statements:
        total = sum(row["ms_per_order"] for row in statements)
        out += [
            "From the server log (`log_min_duration_statement = 0` on the bench database "
            "during this load; parse, bind and execute added up; the harness's own sessions "
            f"left out); the top {len(statements)} take {fmt(total, 2)} ms per order.",
            "",
        ]
        out += table(
            ["statement", "calls/order", "ms/order", "mean ms"],
            [[f"`{_short(row['statement'])}`", fmt(row["calls_per_order"], 2),
              fmt(row["ms_per_order"], 3), fmt(row["mean_ms"], 3)] for row in statements],
        )  # fmt: skip
    else:
        out += [f"Not available: {result.get('statements_note') or 'nothing logged'}.", ""]
    for name, problem in result.get("py_spy_errors", {}).items():
        out += [f"py-spy wrote no {name}:", "", "```", problem, "```", ""]
    return "\n".join(out)


def _short(text: str, limit: int = 240) -> str:
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
