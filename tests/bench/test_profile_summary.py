"""What `make bench --profile` makes of py-spy's collapsed stacks and of PostgreSQL's log,
without a server: shares by function, and statements grouped with their literals out."""

import io
import sys
from pathlib import Path

from django.conf import settings

# bench/ is a folder of scripts, not a package.
sys.path.append(str(Path(settings.BASE_DIR) / "bench"))

import profiling
import statements

WORKER = 'process 10:"gunicorn: master";process 11:"gunicorn: worker"'
STACKS = "\n".join(
    [
        f"{WORKER};run (gunicorn/arbiter.py:10);checkout (orders/views.py:5);"
        "dumps (json/__init__.py:231) 30",
        f"{WORKER};run (gunicorn/arbiter.py:10);checkout (orders/views.py:5);"
        "execute (psycopg/cursor.py:90) 50",
        f"{WORKER};run (gunicorn/arbiter.py:10);checkout (orders/views.py:7) 20",
    ]
)


def test_collapsed_stacks_give_self_and_inclusive_shares_of_the_measured_cpu():
    summary = profiling.summarise(STACKS, cpu_ms=10.0)

    assert summary["samples"] == 100
    own = {row["name"]: row for row in summary["self"]}
    assert own["execute (psycopg/cursor.py)"]["share"] == 0.5
    assert own["execute (psycopg/cursor.py)"]["cpu_ms_per_order"] == 5.0
    assert own["checkout (orders/views.py)"]["share"] == 0.2
    packages = {row["name"]: row["share"] for row in summary["self_by_package"]}
    assert packages == {"psycopg": 0.5, "json": 0.3, "orders": 0.2}
    # The server's loop is on every stack: left out of the inclusive table.
    assert [row["name"] for row in summary["inclusive"]] == [
        "execute (psycopg/cursor.py)",
        "dumps (json/__init__.py)",
    ]
    [innermost] = summary["innermost_project_function"]
    assert (innermost["name"], innermost["share"]) == ("checkout (orders/views.py)", 1.0)


def test_statements_are_grouped_with_literals_and_value_lists_folded():
    assert statements.normalise(
        "SELECT a FROM t1 WHERE id IN (1, 2, 3) AND code = 'SKU-0''1' AND x = $1 LIMIT 21"
    ) == ("SELECT a FROM t1 WHERE id IN (...) AND code = ? AND x = ? LIMIT ?")
    assert statements.normalise(
        "INSERT INTO t (a, b) VALUES (1, NULL), (2, '2026-01-01'::timestamptz) RETURNING t.id"
    ) == ("INSERT INTO t (a, b) VALUES (...), ... RETURNING t.id")
    assert statements.normalise('SAVEPOINT "s1401_x12"') == 'SAVEPOINT "s?_x?"'


def test_only_the_bench_databases_lines_of_the_apps_sessions_are_read():
    prefix = statements._prefix_pattern("%m [%p] %q%u@%d ", "omnistock_bench")
    stamp = "2026-12-03 06:49:06.272 UTC"
    log = io.BytesIO(
        "\n".join(
            [
                f"{stamp} [7] postgres@omnistock_bench LOG:  duration: 0.5 ms  statement: SELECT a",
                "\tFROM t WHERE id = 4",
                f"{stamp} [8] postgres@omnistock_bench_other LOG:  duration: 9.0 ms  statement: "
                "SELECT b",
                f"{stamp} [9] postgres@omnistock_bench LOG:  duration: 2.0 ms  statement: SELECT 1",
                f"{stamp} [7] postgres@omnistock_bench LOG:  duration: 0.1 ms  bind <unnamed>: "
                "COMMIT",
                f"{stamp} [7] postgres@omnistock_bench LOG:  duration: 0.2 ms  execute <unnamed>: "
                "COMMIT",
                f"{stamp} [7] postgres@omnistock_bench DETAIL:  parameters: $1 = '1'",
            ]
        ).encode()
        + b"\n"
    )

    entries = list(statements._entries(log, prefix, own={"9"}))

    assert entries == [
        ["statement", 0.5, "SELECT a FROM t WHERE id = 4"],
        ["bind", 0.1, "COMMIT"],
        ["execute", 0.2, "COMMIT"],
    ]
