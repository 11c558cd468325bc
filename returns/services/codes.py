"""The return code a customer shows at the counter, checked against one return.

Wrong codes are counted on the return and written to its order's timeline; after
`OMS_RETURN_CODE_MAX_FAILURES` of them its code is refused (429 `return_code_locked`) for
`OMS_RETURN_CODE_LOCK_MINUTES`, or until a manager clears the tries. A right code clears them.
"""

import hmac
import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.events import order_event_return_code_refused, order_event_return_code_unlocked
from returns.errors import ReturnCodeInvalid, ReturnCodeLocked, ReturnForbidden
from returns.models import Return
from stores.models import StaffMembership
from stores.selectors import staff_role_at, staff_roles


def _locked(ret: Return) -> Return:
    return Return.objects.select_related("order").select_for_update(of=("self",)).get(pk=ret.pk)


def _lock_left(ret: Return, now) -> int:
    """Seconds the return's code stays refused (0: it is not locked)."""
    if ret.code_locked_until is None or ret.code_locked_until <= now:
        return 0
    return math.ceil((ret.code_locked_until - now).total_seconds())


def return_code_check(*, ret: Return, code: str, actor, location=None) -> None:
    """Whether `code` (case and spaces aside) is this return's: returns when it is; a wrong one
    is counted and kept (ReturnCodeInvalid with the tries left, ReturnCodeLocked on the last
    one); while locked, ReturnCodeLocked without looking at the code."""
    with transaction.atomic():
        ret = _locked(ret)
        now = timezone.now()
        if left := _lock_left(ret, now):
            raise ReturnCodeLocked(retry_after=left, rma=ret.rma)
        if hmac.compare_digest(code.strip().upper().encode(), ret.code.encode()):
            if ret.code_failures or ret.code_locked_until:
                ret.code_failures, ret.code_locked_until = 0, None
                ret.save(update_fields=["code_failures", "code_locked_until", "updated_at"])
            return
        ret.code_failures += 1
        tries_left = max(settings.OMS_RETURN_CODE_MAX_FAILURES - ret.code_failures, 0)
        if tries_left == 0:  # a fresh count once the lock is over
            lock = timedelta(minutes=settings.OMS_RETURN_CODE_LOCK_MINUTES)
            ret.code_failures, ret.code_locked_until = 0, now + lock
        ret.save(update_fields=["code_failures", "code_locked_until", "updated_at"])
        until = ret.code_locked_until if tries_left == 0 else None
        order_event_return_code_refused(
            order=ret.order,
            message=f"Wrong return code for {ret.rma}"
            + (f": refused until {timezone.localtime(until):%H:%M}" if until else
               f" ({tries_left} {'try' if tries_left == 1 else 'tries'} left)"),
            data={"return": ret.rma, "tries_left": tries_left,
                  "locked_until": until.isoformat() if until else None},
            actor=actor,
            location=location,
        )  # fmt: skip
    # Outside the transaction: the wrong try is kept.
    if tries_left == 0:
        raise ReturnCodeLocked(
            f"Too many wrong codes for {ret.rma}: its code is refused for "
            f"{settings.OMS_RETURN_CODE_LOCK_MINUTES} minutes, or until a manager clears "
            "the tries.",
            retry_after=_lock_left(ret, timezone.now()), rma=ret.rma,
        )  # fmt: skip
    raise ReturnCodeInvalid(
        f"That is not the code of {ret.rma}. {tries_left} "
        f"{'try is' if tries_left == 1 else 'tries are'} left before it is locked.",
        rma=ret.rma, attempts_left=tries_left,
    )  # fmt: skip


@transaction.atomic
def return_code_unlock(*, ret: Return, actor) -> Return:
    """A manager clears a return's wrong code tries and lifts its lock. 403 for anyone else: a
    manager where the return is (received or opened), or of any store when it is nowhere yet."""
    ret = _locked(ret)
    where = ret.location or ret.opened_at
    if where is not None:
        manager = staff_role_at(user=actor, location=where) == StaffMembership.Role.MANAGER
    else:
        manager = StaffMembership.Role.MANAGER in staff_roles(user=actor)
    if not manager:
        raise ReturnForbidden("Only a manager can clear a return's wrong code tries.")
    if ret.code_failures or ret.code_locked_until:
        ret.code_failures, ret.code_locked_until = 0, None
        ret.save(update_fields=["code_failures", "code_locked_until", "updated_at"])
        order_event_return_code_unlocked(
            order=ret.order, message=f"Wrong code tries of {ret.rma} cleared", actor=actor,
            data={"return": ret.rma},
        )  # fmt: skip
    return ret
