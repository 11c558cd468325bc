"""The shared cache: Django's Redis cache, except that a Redis that cannot be reached is a
miss, not an error. What lives in the cache (API rate limits) must never take checkout down
with it: while Redis is away each request is simply not counted."""

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis import RedisError

logger = logging.getLogger(__name__)

# The counter's increment when it exists, in one round trip (Django's client asks first).
_INCR_EXISTING = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""


class ReusedRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one `redis.Redis` per connection pool instead of
    building one (and its table of reply callbacks) for every cache call; an increment is
    one round trip."""

    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        self._clients: dict[object, Any] = {}
        self._incr_scripts: dict[object, Any] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(client)
        if script is None:
            script = self._incr_scripts[client] = client.register_script(_INCR_EXISTING)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found")
        return value


class ForgivingRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient

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
