"""bench/upkeep.py: on a server without autovacuum, a table that grew under a load is
analyzed as autovacuum would, so a lookup by its index is planned as one again."""

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings

sys.path.append(str(Path(settings.BASE_DIR) / "bench"))

import harness
from upkeep import Upkeep

pytestmark = pytest.mark.slow


@pytest.fixture
def bench_db():
    """A throw-away database of this test's own, next to the test database."""
    url = urlparse(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/omnistock")
    name = f"{url.path.lstrip('/')}_bench_upkeep".removeprefix("test_")
    db = harness.bench_database(urlunparse(url._replace(path=f"/{name}")))
    harness.recreate_database(db)
    yield db
    harness.drop_database(db)


def _plan(conn) -> str:
    return " ".join(row[0] for row in conn.execute("EXPLAIN EXECUTE one_row(4321)"))


def _reltuples(conn) -> float:
    return conn.execute("SELECT reltuples FROM pg_class WHERE relname = 't'").fetchone()[0]


def test_a_plan_made_while_its_table_was_small_is_made_again_once_the_table_grew(bench_db):
    with bench_db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, n int, pad text)")
        conn.execute("CREATE INDEX t_n ON t (n)")
        conn.execute("INSERT INTO t (n, pad) SELECT g, 'x' FROM generate_series(1, 10) g")
        conn.execute("ANALYZE t")  # a few rows, as a bench database's order tables start
        # A statement the app runs again and again: after five runs its generic plan is kept.
        conn.execute("PREPARE one_row(int) AS SELECT * FROM t WHERE n = $1")
        for n in range(1, 7):
            conn.execute(f"EXECUTE one_row({n})")
        conn.execute(
            "INSERT INTO t (n, pad) SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g"
        )
        assert "Seq Scan" in _plan(conn)  # what a load meets without any upkeep
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
        with Upkeep(bench_db, nap=0.1) as upkeep:
            deadline = time.monotonic() + 20
            while _reltuples(conn) < 10_000 and time.monotonic() < deadline:
                time.sleep(0.2)
        if autovacuum == "on":  # the server's own autovacuum does it; the bench does nothing
            assert not upkeep.needed
            assert upkeep.done.analyzed == 0
            return
        assert upkeep.needed
        assert upkeep.done.analyzed >= 1
        assert _reltuples(conn) == pytest.approx(20_010, rel=0.05)
        # The analyze made the kept plan stale: one row is now looked up by its index.
        assert "Index Scan using t_n" in _plan(conn), _plan(conn)
