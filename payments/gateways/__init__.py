"""Payment gateways, chosen by name from `settings.PAYMENTS_GATEWAYS`."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from payments.gateways.base import (
    Gateway,
    GatewayDeclined,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
)

__all__ = [
    "Gateway",
    "GatewayDeclined",
    "GatewayError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "gateway_get",
    "gateway_names",
]


def gateway_names() -> list[str]:
    return list(settings.PAYMENTS_GATEWAYS)


def gateway_get(name: str) -> Gateway:
    """The configured gateway called `name`; KeyError when there is none."""
    return _gateway(name, settings.PAYMENTS_GATEWAYS[name])


@cache
def _gateway(name: str, path: str) -> Gateway:
    gateway = import_string(path)()
    gateway.name = name
    return gateway
