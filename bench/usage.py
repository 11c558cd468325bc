"""The CPU of what the app runs on, around a load: PostgreSQL, Redis and the whole machine.

gunicorn's and the worker's CPU come from their process trees (stack.cpu_seconds). The
servers are shared, so each is read the way it can be told apart:

- PostgreSQL: the /proc CPU of the bench database's backends (not the harness's own
  sessions) and of the server's own processes (checkpointer, WAL writer, ...). A backend
  that exits within the window takes its CPU with it, so the new sessions per order are
  counted beside it (pg_stat_database.sessions less the harness's own connections); with
  persistent connections they are about 0 and the sum is whole. What exited backends used
  is in the postmaster's children's CPU, which is every database's: on a machine that runs
  only the bench it is the bench's. Unreadable (a server in another container) gives None.
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
    """CPU seconds so far: PostgreSQL's per process (None: unreadable) and of its exited
    backends, Redis's, the machine's busy time; the bench database's sessions and the
    harness's own."""

    postgres: dict[int, float] | None
    postgres_exited: float | None
    redis: float | None
    machine: float
    sessions: int
    harness_sessions: int


def postgres_stat(pid: int) -> list[str] | None:
    """The /proc stat fields after the name of a `postgres` process, None when it is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, fields = stat.split("(", 1)[1].rsplit(")", 1)
    return fields.split() if name == "postgres" else None


def postgres_cpu(conn) -> tuple[dict[int, float] | None, float | None]:
    """(CPU seconds per process, the postmaster's waited-for children's CPU seconds)."""
    pids = [row[0] for row in conn.execute(POSTGRES_PIDS, {"harness": harness.APPLICATION_NAME})]
    own = postgres_stat(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    if own is None:
        return None, None  # not this machine's /proc (a server in a container)
    postmaster = int(own[1])
    cpu = {}
    for pid in [*pids, postmaster]:
        fields = postgres_stat(pid)
        if fields is not None:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    fields = postgres_stat(postmaster)
    exited = None if fields is None else (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return cpu, exited


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
        postgres, exited = postgres_cpu(self.conn)
        return Usage(
            postgres=postgres,
            postgres_exited=exited,
            redis=redis_cpu(self.redis),
            machine=machine_busy()[0],
            sessions=self.conn.execute(SESSIONS).fetchone()[0],
            harness_sessions=len(harness.OWN_BACKENDS),
        )


def per_order(before: Usage, after: Usage, orders: int) -> dict:
    """CPU ms per order of PostgreSQL (its exited backends apart, of any database), Redis
    and the machine between two samples, and the bench database's new sessions per order
    (the app's, not the harness's)."""
    orders = max(orders, 1)

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else 1000 * seconds / orders

    postgres = None
    if before.postgres is not None and after.postgres is not None:
        # A process first seen at the end started within the window: all its CPU counts.
        postgres = sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in after.postgres.items())

    def delta(first: float | None, last: float | None) -> float | None:
        return None if first is None or last is None else last - first

    app_sessions = (after.sessions - before.sessions) - (
        after.harness_sessions - before.harness_sessions
    )
    return {
        "postgres_cpu_ms_per_order": ms(postgres),
        "postgres_exited_cpu_ms_per_order": ms(
            delta(before.postgres_exited, after.postgres_exited)
        ),
        "redis_cpu_ms_per_order": ms(delta(before.redis, after.redis)),
        "machine_cpu_ms_per_order": ms(after.machine - before.machine),
        "pg_new_sessions_per_order": max(app_sessions, 0) / orders,
    }
