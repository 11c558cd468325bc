"""The chain a `make bench` run measures: its scale, the app's environment, the seeded data.

A chain is seeded by `manage.py seed_demo` into a fresh bench database, then stocked up
through ledger rows and given a daily ship capacity no run reaches, so a run measures steady
state rather than a chain selling out.
"""

import os
import subprocess
import time
from dataclasses import dataclass

import harness
from harness import BASE_DIR, BenchDatabase


@dataclass(frozen=True)
class Scale:
    name: str
    stores: int
    warehouses: int
    skus: int

    @property
    def locations(self) -> int:
        return self.stores + self.warehouses

    @property
    def label(self) -> str:
        return f"{self.locations} locations x {self.skus} SKUs"


SCALES = {
    "smoke": Scale("smoke", 5, 1, 50),
    "small": Scale("small", 98, 2, 2000),
    "large": Scale("large", 998, 2, 20_000),
}
# The scale comparison that --scale large adds (the main scale is part of it).
LARGE_COMPARISON = ["100x2000", "1000x2000", "100x20000"]


def parse_scale(text: str) -> Scale:
    """`small`, `large`, or LOCATIONSxSKUS (two of the locations are warehouses)."""
    if text in SCALES:
        return SCALES[text]
    locations, skus = (int(part) for part in text.lower().split("x"))
    warehouses = 2 if locations > 10 else 1
    return Scale(text, locations - warehouses, warehouses, skus)


# --- the environment of the app's processes ----------------------------------------------


def app_environment(db: BenchDatabase, *, redis_url: str, var_dir: str, queue: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "OMS_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", harness.BENCH_SECRET_KEY),
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": db.url,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "OMNISTOCK_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
            # One token places every order of the run: the per-client checkout limit (6,000 a
            # minute) would refuse a load of a minute at 100 orders/s; the bench measures
            # what the servers can take.
            "DJANGO_THROTTLE_CHECKOUT": "10000000/min",
            # Production would send the stores' new-order mail through SMTP.
            "EMAIL_BACKEND": harness.LOCMEM_EMAIL_BACKEND,
            "PYTHONPATH": str(BASE_DIR),
        }
    )
    return env


def manage(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = harness.manage(*args, env=env)
    if check and result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def verify_stock(env: dict) -> dict:
    result = manage(env, "verify_stock", check=False)
    return {"ok": result.returncode == 0, "output": (result.stdout + result.stderr)[-2000:]}


# --- the chain -----------------------------------------------------------------------------


@dataclass
class Chain:
    scale: Scale
    token: str
    bbox: tuple[float, float, float, float]
    stocked: tuple[int, int]  # location ids whose rows were topped up (a contiguous range)
    skus: tuple[int, int]  # sku ids
    hot_store: str
    hot_store_id: int
    seed_seconds: float


def receive_stock(conn, *, quantity: int, locations: tuple[int, int], sku: int | None = None):
    """Add `quantity` on hand to every stock row of the locations with ids in `locations`
    (of `sku` only when given), each through a receipt in the ledger, so verify_stock stays
    clean."""
    where = "s.location_id BETWEEN %(a)s AND %(b)s" + (
        "" if sku is None else " AND s.sku_id = %(sku)s"
    )
    conn.execute(
        f"""
        WITH up AS (
            UPDATE inventory_stocklevel s SET on_hand = s.on_hand + %(q)s, updated_at = now()
            WHERE {where}
            RETURNING s.location_id, s.sku_id
        )
        INSERT INTO inventory_stockmovement
            (delta_on_hand, delta_reserved, delta_held, reason, reference, note, source,
             external_id, created_at, location_id, sku_id)
        SELECT %(q)s, 0, 0, 'receipt', 'bench top-up', '', '', '', now(), location_id, sku_id
        FROM up
        """,  # noqa: S608 - the WHERE clause is one of two fixed texts
        {"q": quantity, "a": locations[0], "b": locations[1], "sku": sku},
    )


def prepare_chain(db: BenchDatabase, env: dict, scale: Scale, *, top_up: int) -> Chain:
    print(f"== preparing {db.name}: {scale.label}", flush=True)
    harness.recreate_database(db)
    manage(env, "migrate", "--noinput", "-v", "0")
    started = time.monotonic()
    manage(
        env, "seed_demo", "--stores", str(scale.stores), "--warehouses", str(scale.warehouses),
        "--skus", str(scale.skus), "--staff-stores", "2", "--no-progress", "-v", "0",
    )  # fmt: skip
    seed_seconds = time.monotonic() - started
    token = manage(env, "issue_token", "--channel", "web").stdout.strip().split()[-1]
    with db.connect(autocommit=True) as conn:
        lat0, lat1, lon0, lon1, lmin, lmax, n = conn.execute(
            "SELECT min(latitude), max(latitude), min(longitude), max(longitude),"
            " min(id), max(id), count(*) FROM stores_location"
        ).fetchone()
        smin, smax, sn = conn.execute(
            "SELECT min(id), max(id), count(*) FROM inventory_sku"
        ).fetchone()
        if lmax - lmin + 1 != n or smax - smin + 1 != sn:
            raise RuntimeError("location or SKU ids are not contiguous in a fresh bench database")
        # Small chains: every row; large ones: the warehouses (where ship orders go first).
        rows = n * sn
        where = "" if rows <= 500_000 else "WHERE l.kind = 'warehouse'"
        wmin, wmax = conn.execute(
            f"SELECT min(l.id), max(l.id) FROM stores_location l {where}"  # noqa: S608
        ).fetchone()
        hot_id, hot_code = conn.execute(
            "SELECT id, code FROM stores_location WHERE kind = 'store' AND can_pickup"
            " AND is_active ORDER BY id LIMIT 1"
        ).fetchone()
        receive_stock(conn, quantity=top_up, locations=(wmin, wmax))
        conn.execute("UPDATE stores_location SET daily_ship_capacity = 100000000")
        conn.execute("VACUUM ANALYZE")
    print(f"   seeded in {seed_seconds:.1f} s; stocked locations {wmin}..{wmax}", flush=True)
    return Chain(
        scale=scale,
        token=token,
        bbox=(lat0, lat1, lon0, lon1),
        stocked=(wmin, wmax),
        skus=(smin, smax),
        hot_store=hot_code,
        hot_store_id=hot_id,
        seed_seconds=seed_seconds,
    )
