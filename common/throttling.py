"""Failures counted against a client: wrong tokens per client address, and others (return
codes that find nothing) per API client; views limit their requests with DRF's
`ScopedRateThrottle` and a `throttle_scope`. `client_address` is the one client address that
these limits and the admin login lockout count."""

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


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
