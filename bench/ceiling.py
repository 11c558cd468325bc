"""The raw-SQL ceiling: the row changes of a checkout as plain SQL through pgbench.

Each transaction makes the stock changes `inventory.services.stock_reserve` makes (per line a
conditional UPDATE with its ledger and reservation rows; for a ship order the ship slot of
the day), then COMMIT. Afterwards every row it changed is put back, so verify_stock stays
clean and the HTTP measurements start from the same stock.
"""

import contextlib
import os
import subprocess
from pathlib import Path

import harness
from harness import BenchDatabase
from scales import Chain

CEILING_DEMAND = "bench-ceiling"

RESERVE_CTE = """
WITH up AS (
    UPDATE inventory_stocklevel SET reserved = reserved + 1, updated_at = now()
    WHERE location_id = {loc} AND sku_id = {sku}
      AND on_hand - reserved - held - safety_stock >= 1
    RETURNING location_id, sku_id
), m AS (
    INSERT INTO inventory_stockmovement
        (delta_on_hand, delta_reserved, delta_held, reason, reference, note, source,
         external_id, created_at, location_id, sku_id)
    SELECT 0, 1, 0, 'reserve', '{demand}', '', '', '', now(), location_id, sku_id FROM up
)
INSERT INTO inventory_reservation
    (reference, demand, delivery_method, quantity, status, created_at, updated_at,
     location_id, sku_id)
SELECT '{demand}', '{demand}', '{method}', 1, 'active', now(), now(), location_id, sku_id
FROM up;
"""


def time_zone() -> str:
    """The TIME_ZONE setting the app runs with (the day of a ship slot)."""
    return os.environ.get("TIME_ZONE", "Asia/Shanghai")


def run_pgbench(
    db: BenchDatabase, *, script: str, clients: int, seconds: float, work: Path
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    script_path = work / "script.sql"
    script_path.write_text(script)
    prefix = work / "log"
    for old in work.glob("log.*"):
        old.unlink()
    command = [
        "pgbench", "-n", "-h", db.host, "-p", str(db.port), "-U", db.user,
        "-c", str(clients), "-j", str(max(1, min(clients, 2))), "-T", str(max(1, round(seconds))),
        "-f", str(script_path), "-l", f"--log-prefix={prefix}", db.name,
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": db.password} if db.password else dict(os.environ)
    result = subprocess.run(  # noqa: S603 - pgbench with fixed arguments
        command, env=env, capture_output=True, text=True, check=False, cwd=work
    )
    if result.returncode:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    latencies = []
    for log in work.glob("log.*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]) / 1000)
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in result.stdout.splitlines()
        if line.startswith("tps =")
    )
    return {
        "clients": clients,
        "per_s": tps,
        "transactions": len(latencies),
        "p50_ms": harness.percentile(latencies, 0.5),
        "p99_ms": harness.percentile(latencies, 0.99),
    }


def ceiling_script(chain: Chain, *, lines: int, time_zone: str) -> str:
    """One order: `lines` random SKUs (in id order, as checkout locks them) at one random
    stocked location, each a conditional UPDATE with its ledger and reservation rows, then
    the location's ship slot of the day, one COMMIT."""
    (lmin, lmax), (smin, smax) = chain.stocked, chain.skus
    band = (smax - smin + 1) // lines
    out = [f"\\set loc random({lmin}, {lmax})"]
    for i in range(lines):
        low = smin + i * band
        high = smax if i == lines - 1 else low + band - 1
        out.append(f"\\set s{i} random({low}, {high})")
    out.append("BEGIN;")
    for i in range(lines):
        sql = RESERVE_CTE.format(loc=":loc", sku=f":s{i}", demand=CEILING_DEMAND, method="ship")
        out.append(" ".join(sql.split()))
    # A pgbench script of our own; the zone is the TIME_ZONE setting.
    slot = (
        "UPDATE inventory_shipday SET orders = orders + 1 WHERE location_id = :loc"
        " AND day = (now() AT TIME ZONE '{zone}')::date"
        " AND orders < (SELECT daily_ship_capacity FROM stores_location WHERE id = :loc);"
    )
    out.append(slot.format(zone=time_zone))
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def hot_row_script(chain: Chain, sku_id: int) -> str:
    sql = RESERVE_CTE.format(
        loc=chain.hot_store_id, sku=sku_id, demand=CEILING_DEMAND, method="pickup"
    )
    return "BEGIN;\n" + " ".join(sql.split()) + "\nCOMMIT;\n"


@contextlib.contextmanager
def ceiling_rows(db: BenchDatabase, *, time_zone: str, ship_days: bool = True):
    """Make today's ship-day rows exist, then undo every row change the ceiling made.

    The ship-day counters are put back to what they were before, so nothing else may take
    a ship slot meanwhile (`ship_days=False` for a ceiling that takes none)."""
    if ship_days:
        with db.connect(autocommit=True) as conn:
            conn.execute(
                "INSERT INTO inventory_shipday (day, orders, location_id)"
                " SELECT (now() AT TIME ZONE %s)::date, 0, id FROM stores_location"
                " ON CONFLICT DO NOTHING",
                [time_zone],
            )
            conn.execute("DROP TABLE IF EXISTS bench_shipday_before")
            conn.execute(
                "CREATE TABLE bench_shipday_before AS SELECT id, orders FROM inventory_shipday"
            )
    try:
        yield
    finally:
        _undo_reservations(db)
        if ship_days:
            with db.connect() as conn:
                conn.execute(
                    "UPDATE inventory_shipday d SET orders = b.orders"
                    " FROM bench_shipday_before b WHERE d.id = b.id"
                )
                conn.execute("DROP TABLE bench_shipday_before")
                conn.commit()
        vacuum(db)


def _undo_reservations(db: BenchDatabase) -> None:
    with db.connect() as conn:
        conn.execute(
            "UPDATE inventory_stocklevel s SET reserved = s.reserved - r.q"
            " FROM (SELECT location_id, sku_id, sum(quantity) AS q FROM inventory_reservation"
            "       WHERE demand = %s GROUP BY 1, 2) r"
            " WHERE s.location_id = r.location_id AND s.sku_id = r.sku_id",
            [CEILING_DEMAND],
        )
        conn.execute("DELETE FROM inventory_reservation WHERE demand = %s", [CEILING_DEMAND])
        conn.execute("DELETE FROM inventory_stockmovement WHERE reference = %s", [CEILING_DEMAND])
        conn.commit()


def vacuum(db: BenchDatabase) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "VACUUM ANALYZE inventory_stocklevel, inventory_reservation, inventory_stockmovement,"
            " inventory_shipday, orders_order, common_outboxevent"
        )


def measure_ceiling(db: BenchDatabase, chain: Chain, args, work: Path) -> list[dict]:
    """The checkout's row changes (`--lines` per order) at each client count."""
    results = []
    tz = time_zone()
    script = ceiling_script(chain, lines=args.lines, time_zone=tz)
    with ceiling_rows(db, time_zone=tz):
        for clients in args.levels:
            row = run_pgbench(db, script=script, clients=clients, seconds=args.seconds, work=work)
            with db.connect(autocommit=True) as conn:
                reserved = conn.execute(
                    "SELECT count(*) FROM inventory_reservation WHERE demand = %s", [CEILING_DEMAND]
                ).fetchone()[0]
            row["rows_reserved_so_far"] = reserved
            print(
                f"   ceiling  {clients:>3} clients: {row['per_s']:9.1f} orders/s "
                f"p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms",
                flush=True,
            )
            results.append(row)
    return results


def measure_hot_row(db: BenchDatabase, chain: Chain, sku_id: int, args, work: Path) -> dict:
    """One reserve of the hot (store, SKU) row per transaction, at `--hot-clients`."""
    with ceiling_rows(db, time_zone=time_zone(), ship_days=False):
        return run_pgbench(
            db,
            script=hot_row_script(chain, sku_id),
            clients=args.hot_clients,
            seconds=args.hot_seconds,
            work=work,
        )
