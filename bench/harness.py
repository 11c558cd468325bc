"""Shared set-up for the benchmark harnesses: a throw-away PostgreSQL database on this machine.

The database named by DATABASE_URL (default `omnistock_bench` on 127.0.0.1) is dropped and
created again by every run, so the harnesses refuse any database that is not local or whose
name does not say it is a benchmark database: the dev and test databases are never touched.
"""

import argparse
import atexit
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlparse, urlunparse

import psycopg
import redis
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/omnistock_bench"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A Redis db of the bench's own, away from the development default (db 0) and the tests'.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
# Production settings need a secret key; this one is for bench databases only.
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-" + "0" * 24
# Production settings would send through SMTP; a bench keeps every mail in memory.
LOCMEM_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The harness's own sessions say so, and their backends are kept, so that what the app's
# sessions cost and run can be told apart.
APPLICATION_NAME = "omnistock-bench"
OWN_BACKENDS: list[int] = []


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    host: str
    port: int
    user: str
    password: str
    name: str

    def connect(self, *, dbname: str | None = None, autocommit: bool = False):
        conn = psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname or self.name,
            autocommit=autocommit,
            connect_timeout=5,
            application_name=APPLICATION_NAME,
        )
        OWN_BACKENDS.append(conn.info.backend_pid)
        return conn


def bench_database(url: str | None) -> BenchDatabase:
    """Parse the URL; exit with a message unless it is a local benchmark database."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parsed = urlparse(url)
    name = unquote(parsed.path.lstrip("/"))
    problems = []
    if parsed.scheme not in ("postgres", "postgresql"):
        problems.append("it is not a PostgreSQL URL")
    if (parsed.hostname or "") not in LOCAL_HOSTS:
        problems.append(f"host {parsed.hostname!r} is not this machine (127.0.0.1)")
    if "bench" not in name or name.startswith("test_"):
        problems.append(
            f"database {name!r} is not a benchmark database (its name must contain 'bench' "
            "and not start with 'test_')"
        )
    if problems:
        sys.exit(f"Refusing DATABASE_URL {url!r}: " + "; ".join(problems) + ".")
    return BenchDatabase(
        url=url,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=unquote(parsed.username or "postgres"),
        password=unquote(parsed.password or ""),
        name=name,
    )


def sibling_database(db: BenchDatabase, suffix: str) -> BenchDatabase:
    """A bench database beside `db` on the same server, named `<db.name>_<suffix>` (a name
    that still contains 'bench'), for a chain of its own."""
    name = f"{db.name}_{suffix}"
    url = urlunparse(urlparse(db.url)._replace(path="/" + quote(name)))
    return replace(db, url=url, name=name)


def add_load_arguments(
    parser: argparse.ArgumentParser, *, clients: str, seconds: float, call: str, stock: str
) -> None:
    """The options of a harness that puts clients on one hot stock row."""
    parser.add_argument("--clients", default=clients, help=f"client counts (default {clients})")
    parser.add_argument("--seconds", type=float, default=seconds, help="per level and workload")
    parser.add_argument("--max-ops", type=int, default=None, help=f"cap of {call} per level")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each level, keep the median")
    parser.add_argument("--stock", type=int, default=10_000_000, help=f"on hand of {stock}")
    parser.add_argument("--safety-stock", type=int, default=2)
    parser.add_argument("--processes", action="store_true", help="clients are processes")
    parser.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM the stock table before each measurement",
    )
    parser.add_argument("--database-url", help=f"default: $DATABASE_URL or {DEFAULT_DATABASE_URL}")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")


def run_load(args: argparse.Namespace, run, *, extra_env: dict[str, str] | None = None) -> int:
    """A load harness's main: check connections, make the bench database, `run(args, db,
    levels)`, drop the database (unless --keep-db)."""
    levels = [int(n) for n in args.clients.split(",")]
    db = bench_database(args.database_url)
    # Each client holds a connection; the harness holds two more.
    require_connections(db, max(levels) + 2)
    configure_environment(db)
    os.environ.update(extra_env or {})
    recreate_database(db)
    try:
        return run(args, db, levels)
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(db)


def recreate_database(db: BenchDatabase) -> None:
    drop_database(db)
    with db.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))


def drop_database(db: BenchDatabase) -> None:
    with db.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name))
        )


def bench_redis_url(given: str | None = None) -> str:
    """The Redis of a run: `given` (--redis-url), else $BENCH_REDIS_URL, else DEFAULT_REDIS_URL."""
    return given or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL


def forget_queue(redis_url: str, queue: str) -> int:
    """Remove what Celery keeps in Redis for a run's own `queue` and the queues named after
    it (`<queue>.notifications`): their lists and kombu's binding keys, which outlive every
    process. Run once those processes have stopped; returns how many keys went."""
    patterns = (queue, f"{queue}.*", f"_kombu.binding*.{queue}", f"_kombu.binding*.{queue}.*")
    client = redis.Redis.from_url(redis_url)
    try:
        keys = {key for pattern in patterns for key in client.scan_iter(match=pattern)}
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def configure_environment(db: BenchDatabase) -> None:
    """Settings for this process and the manage.py commands it runs: production mode on the
    bench database, tasks in process, and a private var/ so no demo file of the dev setup is
    overwritten."""
    var_dir = tempfile.mkdtemp(prefix="omnistock-bench-")
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)
    os.environ.update(
        {
            "DATABASE_URL": db.url,
            "OMNISTOCK_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "LOG_LEVEL": "WARNING",
            # After-commit work run in process (a store's new-order email) sends no mail.
            "EMAIL_BACKEND": LOCMEM_EMAIL_BACKEND,
        }
    )
    os.environ.pop("REDIS_URL", None)
    # DEBUG would keep every query in memory and slow each one down.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", BENCH_SECRET_KEY)
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `manage.py ARGS` against the bench database (in `env`, else this process's
    environment); output captured."""
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def migrate() -> None:
    result = manage("migrate", "--noinput", "-v", "0")
    if result.returncode:
        sys.exit(f"manage.py migrate failed:\n{result.stdout}{result.stderr}")


def setup_django() -> None:
    import django

    django.setup()


def stock_up(*, location, sku, quantity: int) -> None:
    """Receive `quantity` on the shelf through the stock service, in receipts no larger than
    one movement may be."""
    from inventory.services import MAX_MOVEMENT_QUANTITY, MovementOrigin, stock_receive

    while quantity > 0:
        step = min(quantity, MAX_MOVEMENT_QUANTITY)
        stock_receive(
            location=location,
            sku=sku,
            quantity=step,
            origin=MovementOrigin(reference="bench opening stock"),
        )
        quantity -= step


def postgres_settings(db: BenchDatabase, names: Sequence[str]) -> dict[str, str]:
    """`SHOW name` for each of `names`, in that order."""
    with db.connect() as conn:
        return {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
            for name in names
        }


def server_facts(db: BenchDatabase) -> str:
    settings = postgres_settings(
        db, ("server_version", "synchronous_commit", "fsync", "shared_buffers", "autovacuum")
    )
    version = settings.pop("server_version")
    pairs = ", ".join(f"{k}={v}" for k, v in settings.items())
    return (
        f"PostgreSQL {version} at {db.host}:{db.port}/{db.name} ({pairs}); "
        f"{os.cpu_count()} CPU cores; Python {sys.version.split()[0]}"
    )


def require_connections(db: BenchDatabase, needed: int) -> None:
    """Exit with a message when the server cannot take `needed` more connections now."""
    with db.connect(dbname="postgres") as conn:
        free = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()[0]
    if free < needed:
        sys.exit(
            f"PostgreSQL has {free} free connections now, this run needs {needed}: lower "
            "--clients or raise max_connections."
        )


def load_average(when: str) -> str:
    one, five, _ = os.getloadavg()
    return f"Load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(headers), *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        " | ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    print(lines[0])
    print("-+-".join("-" * width for width in widths))
    for line in lines[1:]:
        print(line)
