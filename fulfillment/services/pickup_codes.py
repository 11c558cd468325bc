"""Pickup codes: issued by the ready email, kept only as an HMAC, checked at the hand-over.

A code exists in the clear only in the customer's message. Wrong tries are counted on the
fulfillment order; after `MAX_CODE_FAILURES` only a manager's override can hand over, until
a new code is sent (which lifts the lock-out).
"""

import hashlib
import hmac

from django.conf import settings

from common.codes import readable_code
from fulfillment.errors import PickupCodeLocked
from fulfillment.models import FulfillmentOrder

CODE_LENGTH = 6
MAX_CODE_FAILURES = 5


def pickup_code_digest(fulfillment_order_id: int, code: str) -> str:
    """The HMAC of `code` for one fulfillment order, as typed (case and spaces aside)."""
    message = f"{fulfillment_order_id}:{code.strip().upper()}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def pickup_code_issue(*, fulfillment_order: FulfillmentOrder) -> str:
    """A fresh pickup code for a ready pickup, its digest kept on it.

    For the notification that sends it, inside its transaction and with the fulfillment
    order locked (`fulfillment_order_lock`), so the code exists only in the customer's
    message and, hashed, on the fulfillment order.
    """
    fo = fulfillment_order
    code = readable_code(CODE_LENGTH)
    fo.pickup_code_hash = pickup_code_digest(fo.pk, code)
    fo.pickup_code_failures = 0
    fo.save(update_fields=["pickup_code_hash", "pickup_code_failures", "updated_at"])
    return code


def pickup_code_revoke(*, fulfillment_order: FulfillmentOrder) -> None:
    """The code sent so far stops working and its lock-out is lifted; a ready email still on
    its way is superseded (a new round), so only the next one issues a code."""
    fo = fulfillment_order
    fo.pickup_code_hash, fo.pickup_code_failures = "", 0
    fo.pickup_code_round += 1
    fields = ["pickup_code_hash", "pickup_code_failures", "pickup_code_round", "updated_at"]
    fo.save(update_fields=fields)


def pickup_code_verify(*, fulfillment_order: FulfillmentOrder, code: str) -> bool:
    """Whether `code` is the pickup code of the locked `fulfillment_order`. A wrong one is
    counted and saved; PickupCodeLocked once too many were wrong."""
    fo = fulfillment_order
    if fo.pickup_code_failures >= MAX_CODE_FAILURES:
        raise PickupCodeLocked()
    if code and hmac.compare_digest(pickup_code_digest(fo.pk, code), fo.pickup_code_hash):
        return True
    fo.pickup_code_failures += 1
    fo.save(update_fields=["pickup_code_failures", "updated_at"])
    return False


def pickup_code_attempts_left(fulfillment_order: FulfillmentOrder) -> int:
    return MAX_CODE_FAILURES - fulfillment_order.pickup_code_failures


def pickup_code_mismatch_detail(attempts_left: int) -> str:
    """What staff read after a wrong code: how many tries are left before the lock-out."""
    if attempts_left <= 0:
        return (
            "The pickup code does not match. No tries are left: only a manager can hand over "
            "now (with a reason), or send the customer a new code."
        )
    tries = "1 try is" if attempts_left == 1 else f"{attempts_left} tries are"
    return f"The pickup code does not match. {tries} left before only a manager can hand over."
