"""What the database says around a load: the outbox backlog, the release latency, orders/s.

wrk stops counting when its time is up and the Celery worker releases orders after their
checkout commits, so these figures come from the database's own rows and timestamps.
"""

import threading
import time
from datetime import datetime

import harness
from harness import BenchDatabase

UNPROCESSED = "SELECT count(*) FROM common_outboxevent WHERE processed_at IS NULL"


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
                count = conn.execute(UNPROCESSED).fetchone()[0]
                self.samples.append((round(time.monotonic() - self.started, 2), count))
                self._stop.wait(self.every)

    def now(self) -> int:
        with self.db.connect(autocommit=True) as conn:
            return conn.execute(UNPROCESSED).fetchone()[0]

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
