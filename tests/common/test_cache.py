"""Rate limits live in Redis in production, shared by every server process, and a Redis
that is away never turns a request into an error."""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from common.cache import ForgivingRedisCache
from tests.common.test_settings import MODE_VARS, PRODUCTION_ENV

CLOSED_PORT = 18614  # nothing listens there


def _cache(location: str, prefix: str) -> ForgivingRedisCache:
    return ForgivingRedisCache(location, {"KEY_PREFIX": prefix, "OPTIONS": {"socket_timeout": 1}})


def test_production_keeps_the_cache_in_the_brokers_redis_next_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {*MODE_VARS, "DJANGO_CACHE"}}
    env.update(PRODUCTION_ENV, OMNISTOCK_VAR_DIR=str(tmp_path))
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings';"
        "django.setup(); from django.conf import settings as s;"
        "print(s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    backend, location = result.stdout.split()
    assert backend == "common.cache.ForgivingRedisCache"
    assert PRODUCTION_ENV["REDIS_URL"].endswith("/0")
    assert location == "redis://127.0.0.1:6379/1"


def test_two_processes_see_the_same_counts(redis_client):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    one, other = _cache(settings.REDIS_URL, prefix), _cache(settings.REDIS_URL, prefix)
    try:
        one.set("throttle_checkout_7", [1.0, 2.0], 60)

        assert other.get("throttle_checkout_7") == [1.0, 2.0]
    finally:
        one.delete("throttle_checkout_7")


def test_a_redis_that_cannot_be_reached_reads_as_a_miss_and_drops_writes(caplog):
    cache = _cache(f"redis://127.0.0.1:{CLOSED_PORT}/0", "test")

    cache.set("throttle_checkout_7", [1.0], 60)

    assert cache.get("throttle_checkout_7", []) == []
    assert "cache unavailable" in caplog.text


def test_an_increment_counts_a_counter_there_and_refuses_one_that_is_not(redis_client):
    cache = _cache(settings.REDIS_URL, f"test-{uuid.uuid4().hex[:8]}")
    try:
        cache.set("throttle_checkout_7", 1, 60)

        assert cache.incr("throttle_checkout_7") == 2
        assert cache.incr("throttle_checkout_7", 3) == 5
        assert cache.get("throttle_checkout_7") == 5
        with pytest.raises(ValueError, match="not found"):
            cache.incr("throttle_checkout_8")
        assert cache.get("throttle_checkout_8") is None  # no counter made by the refusal
    finally:
        cache.delete("throttle_checkout_7")


def test_cache_calls_share_one_redis_client(redis_client):
    cache = _cache(settings.REDIS_URL, f"test-{uuid.uuid4().hex[:8]}")

    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
