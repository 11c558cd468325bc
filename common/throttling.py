"""Failures counted against a client: wrong tokens per client address, and others (return
codes that find nothing) per API client; views limit their requests with
`ScopedWindowThrottle` and a `throttle_scope`. `client_address` is the one client address that
these limits and the admin login lockout count."""

from rest_framework.throttling import BaseThrottle, ScopedRateThrottle, SimpleRateThrottle


class ScopedWindowThrottle(ScopedRateThrottle):
    """A view's rate (its `throttle_scope`) counted per client in a window that opens at the
    client's first request: one increment of a counter in the cache per request. DRF's own keeps
    the time of every request in the window in one list that it reads and writes whole on
    each request (6,000 entries at the checkout rate), and loses counts to concurrent
    writers."""

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        for _ in range(2):
            try:
                count = self.cache.incr(self.key)
            except ValueError:  # no window open for this client: open one
                if self.cache.add(self.key, 1, self.duration):
                    self.cache.set(f"{self.key}:opened", self.now, self.duration)
                    return True
                continue  # another request opened it first: count in that one
            if count == 1:  # the window closed between the cache's check and its increment,
                self.cache.touch(self.key, self.duration)  # which made a key with no expiry
            return count <= self.num_requests
        return True

    def wait(self) -> float:
        opened = self.cache.get(f"{self.key}:opened", self.now)
        return max(opened + self.duration - self.now, 1.0)


class TokenFailureThrottle(SimpleRateThrottle):
    """Wrong or revoked tokens from one client address: past the rate, every request from it
    is refused for a while (429), so keys cannot be guessed by trying them."""

    scope = "token_failure"

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def blocked(self, request) -> bool:
        """True while this address is over its rate of failures (counts nothing)."""
        self.key = self.get_cache_key(request)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request) -> None:
        if not self.blocked(request):
            self.throttle_success()


class ClientFailureThrottle(TokenFailureThrottle):
    """Failures counted per API client (its user) rather than per address: give it a scope."""

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def client_address(request) -> str:
    """The client's address as every limit counts it: REMOTE_ADDR, or behind the trusted
    proxies (`TRUSTED_PROXY_COUNT`) the X-Forwarded-For entry the nearest of them added."""
    return BaseThrottle().get_ident(request)
