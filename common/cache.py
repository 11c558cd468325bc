"""The shared cache: Django's Redis cache, except that a Redis that cannot be reached is a
miss, not an error. What lives in the cache (API rate limits) must never take checkout down
with it: while Redis is away each request is simply not counted."""

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis import RedisError

logger = logging.getLogger(__name__)


class ForgivingRedisCache(RedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            logger.warning("cache unavailable, read skipped: %s", exc)
            return default

    def set(self, key: str, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            logger.warning("cache unavailable, write skipped: %s", exc)

    def add(self, key: str, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            logger.warning("cache unavailable, write skipped: %s", exc)
            return True  # as if this were the first: a rate limit counts nothing meanwhile

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except RedisError as exc:
            logger.warning("cache unavailable, count skipped: %s", exc)
            return 0
