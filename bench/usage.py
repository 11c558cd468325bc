"""The CPU of what the app runs on, around a load: PostgreSQL, Redis and the whole machine.

gunicorn's and the worker's CPU come from their process trees (stack.cpu_seconds). The
servers are shared, so each is read the way it can be told apart:

- PostgreSQL: the /proc CPU of the bench database's backends (not the harness's own
  sessions) and of the server's own processes (checkpointer, WAL writer, ...). A backend
  that exits within the window takes its CPU with it, so the new sessions per order are
  counted beside it (pg_stat_database.sessions less the harness's own connections); with
  persistent connections they are about 0 and the sum is whole. Unreadable (a server in
  another container) gives None.
- Redis: the server's own count (INFO cpu), whatever else uses that server.
- The machine: busy time from /proc/stat, every process included.
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path

import harness
import redis
from harness import BenchDatabase
from stack import CLOCK_TICKS, machine_busy

# The bench database's backends (bar the harness's) and the server's processes that serve
# every database; the postmaster is the parent of the one asking.
POSTGRES_PIDS = """
SELECT pid FROM pg_stat_activity
WHERE pid <> pg_backend_pid()
  AND ((datname = current_database() AND application_name <> %(harness)s)
       OR (backend_type <> 'client backend' AND datname IS NULL))
"""
SESSIONS = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far: PostgreSQL's per process (None: unreadable), Redis's, the
    machine's busy time; the bench database's sessions and the harness's own."""

    postgres: dict[int, float] | None
    redis: float | None
    machine: float
    sessions: int
    harness_sessions: int


def process_cpu(pid: int) -> float | None:
    """User + system CPU of one process (not its children), None when it is not ours to read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, fields = stat.split("(", 1)[1].rsplit(")", 1)
    if name != "postgres":
        return None
    fields = fields.split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu(conn) -> dict[int, float] | None:
    pids = [row[0] for row in conn.execute(POSTGRES_PIDS, {"harness": harness.APPLICATION_NAME})]
    own = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    parent = _parent(own)
    cpu = {pid: process_cpu(pid) for pid in [*pids, *([parent] if parent else [])]}
    if process_cpu(own) is None:
        return None  # not this machine's /proc (a server in a container)
    return {pid: seconds for pid, seconds in cpu.items() if seconds is not None}


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def redis_cpu(client: redis.Redis) -> float | None:
    try:
        info = client.info("cpu")
    except redis.RedisError:
        return None
    return sum(
        info.get(key, 0.0)
        for key in ("used_cpu_user", "used_cpu_sys", "used_cpu_user_children",
                    "used_cpu_sys_children")
    )  # fmt: skip


class UsageMeter:
    """`sample()` before and after a load; `per_order(before, after, orders)` the figures.

    One session of its own for the whole measurement, so sampling opens none in between.
    """

    def __init__(self, db: BenchDatabase, redis_url: str):
        self.conn = db.connect(autocommit=True)
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=2)

    def close(self) -> None:
        self.conn.close()
        with contextlib.suppress(redis.RedisError):
            self.redis.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def sample(self) -> Usage:
        return Usage(
            postgres=postgres_cpu(self.conn),
            redis=redis_cpu(self.redis),
            machine=machine_busy()[0],
            sessions=self.conn.execute(SESSIONS).fetchone()[0],
            harness_sessions=harness.connections_opened(),
        )


def per_order(before: Usage, after: Usage, orders: int) -> dict:
    """CPU ms per order of PostgreSQL, Redis and the machine between two samples, and the
    bench database's new sessions per order (the app's, not the harness's)."""
    orders = max(orders, 1)

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else 1000 * seconds / orders

    postgres = None
    if before.postgres is not None and after.postgres is not None:
        # A process first seen at the end started within the window: all its CPU counts.
        postgres = sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in after.postgres.items())
    redis_seconds = (
        None if before.redis is None or after.redis is None else after.redis - before.redis
    )
    app_sessions = (after.sessions - before.sessions) - (
        after.harness_sessions - before.harness_sessions
    )
    return {
        "postgres_cpu_ms_per_order": ms(postgres),
        "redis_cpu_ms_per_order": ms(redis_seconds),
        "machine_cpu_ms_per_order": ms(after.machine - before.machine),
        "pg_new_sessions_per_order": max(app_sessions, 0) / orders,
    }
