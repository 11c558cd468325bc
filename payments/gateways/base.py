"""The interface every payment gateway implements, and its typed errors.

Each operation is idempotent by `key`: called again with the same key it returns the first
result (the same reference, or the same decline) and moves no money a second time.
`reference` is what the operation is about: the authorisation reference the storefront
got from the gateway.
"""

from abc import ABC, abstractmethod
from decimal import Decimal


class GatewayError(Exception):
    """The gateway did not do what was asked."""


class GatewayDeclined(GatewayError):
    """A final no: retrying the same request cannot succeed."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or did not answer: the outcome is unknown, so the
    same request (same key) is retried."""


class GatewayTimeout(GatewayUnavailable):
    """The gateway did not answer in time; it may have done the work."""


class Gateway(ABC):
    """One payment service provider. Return the gateway's reference of the operation."""

    name: str = ""

    @abstractmethod
    def authorize(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str: ...

    @abstractmethod
    def capture(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str: ...

    @abstractmethod
    def void(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str: ...

    @abstractmethod
    def refund(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str: ...
