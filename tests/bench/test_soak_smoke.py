"""`make soak` in miniature: half a minute of mixed journeys with two clients against
gunicorn and a real worker, and every check of the run holds (no figure is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings

from tests.bench.test_bench_smoke import _alive, left_in_redis, redis_url

BASE_DIR = Path(settings.BASE_DIR)

pytestmark = pytest.mark.slow

CHECKS = {
    "no_5xx", "every_request_answered", "every_checkout_an_order_or_clean_refusal",
    "journeys_as_expected", "outbox_drained", "no_error_logged", "verify_stock_clean",
    "verify_money_clean", "verify_payments_clean", "verify_points_clean",
}  # fmt: skip


def _soak_database_url() -> str:
    """A database of the smoke run's own, next to the test database."""
    url = urlparse(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/omnistock")
    name = url.path.lstrip("/")
    return urlunparse(url._replace(path=f"/{name}_{'soak' if 'bench' in name else 'bench_soak'}"))


def test_soak_smoke_run_passes_every_check_and_stops_everything(tmp_path):
    command = [
        sys.executable, str(BASE_DIR / "bench" / "soak.py"),
        "--minutes", "0.6", "--clients", "2", "--scale", "smoke", "--workers", "2",
        "--drain-timeout", "30", "--seed", "1",
        "--database-url", _soak_database_url(), "--out", str(tmp_path),
    ]  # fmt: skip
    command += ["--redis-url", redis_url()]
    result = subprocess.run(
        command, cwd=BASE_DIR, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout[-4000:] + result.stderr[-3000:]
    assert result.returncode == 0, output

    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["checks"]) == CHECKS
    assert all(results["checks"].values()), results["checks"]
    assert results["ok"]
    traffic = results["traffic"]
    assert traffic["requests"] > 0
    assert set(traffic["checkout_statuses"]) <= {"201", "409", "422"}
    assert results["checkouts"]["created"] > 0
    assert (tmp_path / "results.md").read_text().startswith("# make soak")

    started = results["meta"]["pids"]
    assert len(started) >= 2
    assert not [pid for pid in started if _alive(pid)]
    assert left_in_redis(results["meta"]["queue"]) == []
