"""`make bench` in miniature: the harness runs end to end and leaves nothing running.

A tiny chain, one connection and a second per level: it checks that every part of the
harness still works against today's code (the figures are never asserted).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis
from django.conf import settings

from tests.conftest import IN_CI

BASE_DIR = Path(settings.BASE_DIR)
# bench/ is a folder of scripts, not a package.
sys.path.append(str(BASE_DIR / "bench"))

import harness  # noqa: E402 - after the path it is found on

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _load_tools():
    """wrk and pgbench: in CI their absence is a failure (`make test` installs wrk)."""
    if shutil.which("wrk") and shutil.which("pgbench"):
        return
    message = "make bench needs wrk and pgbench (make wrk installs wrk)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _bench_database_url() -> str:
    """A database of the smoke run's own, next to the test database."""
    url = urlparse(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/omnistock")
    name = url.path.lstrip("/")
    return urlunparse(url._replace(path=f"/{name}_{'smoke' if 'bench' in name else 'bench_smoke'}"))


def redis_url() -> str:
    """The Redis a run started by these tests uses (run.py's --redis-url, below)."""
    return harness.bench_redis_url(os.environ.get("REDIS_URL"))


def left_in_redis(queue: str) -> list[bytes]:
    """Every key of the Redis db that names the run's own queue."""
    client = redis.Redis.from_url(redis_url())
    try:
        return sorted(client.scan_iter(match=f"*{queue}*"))
    finally:
        client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited already; only its parent's wait is missing.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


PY_SPY = Path(sys.executable).with_name("py-spy")


def _assert_profile_written(results: dict, out: Path) -> None:
    """--profile: both flame graphs, the collapsed stacks summed up, profile.md linked."""
    profile = results["profile"]
    assert "error" not in profile, profile
    for name in ("checkout-flame.svg", "worker-flame.svg"):
        assert (out / name).read_text().lstrip().startswith("<?xml"), name
    assert profile["processes"]["gunicorn"]["samples"] > 0
    assert (out / "profile.md").read_text().startswith("# Where the CPU of an order goes")
    assert "(profile.md)" in (out / "results.md").read_text()


def test_bench_smoke_run_writes_results_and_stops_everything(tmp_path):
    command = [
        sys.executable, str(BASE_DIR / "bench" / "run.py"),
        "--scale", "smoke", "--clients", "1", "--seconds", "1", "--hot-clients", "1",
        "--routing-repeat", "10", "--drain-timeout", "15", "--top-up", "1000",
        "--arrival-rate", "5",
        "--database-url", _bench_database_url(), "--out", str(tmp_path), "--profile",
    ]  # fmt: skip
    command += ["--redis-url", redis_url()]
    result = subprocess.run(
        command, cwd=BASE_DIR, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("meta", "ceiling", "checkout", "hot_sku", "availability", "routing"):
        assert key in results, key
    assert {"backlog_series", "verify_stock", "scales"} <= set(results)
    [level] = results["checkout"]
    for key in (
        "orders_per_s", "p50_ms", "p99_ms", "conflicts_409", "errors_non_2xx",
        "wrk_cpu_share", "release_p95_ms", "drain_s",
    ):  # fmt: skip
        assert key in level, key
    assert level["orders"] > 0
    assert results["ceiling"][0]["per_s"] > 0
    # Orders arriving at 5 a second: about 5 placed in its second, none turned away.
    [arriving] = results["checkout_arriving"]
    assert arriving["offered_per_s"] == 5
    assert 0 < arriving["orders"] < 20, arriving
    assert arriving["errors_non_2xx"] == arriving["socket_errors"] == 0
    assert arriving["p99_ms"] > 0
    assert results["hot_sku"]["orders_ok"] > 0
    assert results["hot_sku"]["no_oversell"]
    assert results["hot_sku"]["spread_orders_per_s"] > 0
    assert "route_ms_p99" in results["routing"], results["routing"]
    assert results["verify_stock"]["ok"], results["verify_stock"]["output"]
    assert (tmp_path / "results.md").read_text().startswith("# make bench")
    assert (tmp_path / "checkout.png").exists()
    for key in ("postgres_cpu_ms_per_order", "redis_cpu_ms_per_order", "machine_cpu_ms_per_order"):
        assert key in level, key
    if PY_SPY.exists():
        _assert_profile_written(results, tmp_path)

    started = results["meta"]["pids"]
    assert len(started) >= 2
    assert not [pid for pid in started if _alive(pid)]
    # Nor anything in Redis: the queues of its own and their bindings are gone.
    assert results["meta"]["queue"].startswith("bench-")
    assert left_in_redis(results["meta"]["queue"]) == []


def test_bench_scale_comparison_measures_every_scale_in_rounds_and_drops_its_databases(tmp_path):
    url = _bench_database_url()
    command = [
        sys.executable, str(BASE_DIR / "bench" / "run.py"),
        "--scale", "smoke", "--scales", "8x40", "--scale-rounds", "2", "--scale-clients", "1",
        "--clients", "1", "--seconds", "1", "--arrival-rate", "0",
        "--skip", "ceiling,hot,availability,routing", "--drain-timeout", "15",
        "--top-up", "1000", "--database-url", url, "--redis-url", redis_url(),
        "--out", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=BASE_DIR, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = json.loads((tmp_path / "results.json").read_text())
    scales = {(row["locations"], row["skus"]): row for row in results["scales"]}
    assert set(scales) == {(6, 50), (8, 40)}
    assert [row["main"] for row in scales.values()] == [True, False]
    for row in scales.values():
        # Every scale measured in each round; its row is the median round.
        assert len(row["rounds_orders_per_s"]) == 2
        assert min(row["rounds_orders_per_s"]) > 0
        assert row["orders_per_s"] == min(row["rounds_orders_per_s"])  # lower of two
        assert row["verify_stock_ok"]
    assert result.stdout.count("round 1 of 2") == result.stdout.count("round 2 of 2") == 1
    assert "Slowest median ÷ fastest" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "scale.png").exists()
    # The comparison's own database went with the run's.
    bench = harness.bench_database(url)
    with bench.connect(dbname="postgres", autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [bench.name + "%"]
        ).fetchall()
    assert left == []
    assert not [pid for pid in results["meta"]["pids"] if _alive(pid)]
