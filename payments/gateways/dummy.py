"""A gateway that moves no money: it records every call in `DummyGatewayCall`.

It behaves as a remote system would: on PostgreSQL it writes its records on a connection
of its own (in a thread), so what reached it stays recorded when the caller's transaction
rolls back. (The embedded SQLite default has one writer at a time: there it writes on the
caller's connection.) `DummyGatewayRule` rows tell it to fail, to time out after
succeeding, to decline, or to answer slowly after succeeding, for an operation and/or a
reference. The rules are read on the gateway's connection: only committed ones count.
"""

import threading
import time
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from payments.gateways.base import Gateway, GatewayDeclined, GatewayTimeout, GatewayUnavailable
from payments.models import DummyGatewayCall, DummyGatewayRule, PaymentTransaction

Kind = PaymentTransaction.Kind
Outcome = DummyGatewayCall.Outcome
Behaviour = DummyGatewayRule.Behaviour


class DummyGateway(Gateway):
    def authorize(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str:
        return self._call(Kind.AUTHORIZE, key, amount, currency, reference)

    def capture(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str:
        return self._call(Kind.CAPTURE, key, amount, currency, reference)

    def void(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str:
        return self._call(Kind.VOID, key, amount, currency, reference)

    def refund(self, *, key: str, amount: Decimal, currency: str, reference: str) -> str:
        return self._call(Kind.REFUND, key, amount, currency, reference)

    def _call(self, operation: str, key: str, amount: Decimal, currency: str, ref: str) -> str:
        args = (operation, key, amount, currency, ref)
        if connection.vendor != "postgresql":
            outcome, result, seconds = _handle(*args)
        else:
            outcome, result, seconds = _on_own_connection(*args)
        time.sleep(seconds)  # a slow answer: the work is done and recorded already
        if outcome == Outcome.DECLINED:
            raise GatewayDeclined(f"dummy gateway declined {operation} {key}")
        if outcome == Outcome.UNAVAILABLE:
            raise GatewayUnavailable(f"dummy gateway unavailable for {operation} {key}")
        if outcome == Outcome.TIMED_OUT:
            raise GatewayTimeout(f"dummy gateway timed out on {operation} {key}")
        return result


def _on_own_connection(*args) -> tuple[str, str, int]:
    answer: list = []

    def run() -> None:
        try:
            answer.append(_handle(*args))
        except BaseException as exc:
            answer.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="dummy-gateway")
    thread.start()
    thread.join()
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def _handle(
    operation: str, key: str, amount: Decimal, currency: str, ref: str
) -> tuple[str, str, int]:
    """(outcome as the caller sees it, the reference returned, seconds the answer takes)."""
    record = {"operation": operation, "key": key, "amount": amount, "currency": currency}
    record["reference"] = ref
    first = _decided(operation, key)
    if first is None:
        outcome, seconds = _rule_outcome(operation, ref)
        result = f"dummy_{operation}_{key}" if outcome in DummyGatewayCall.EFFECTIVE else ""
        try:
            with transaction.atomic():
                DummyGatewayCall.objects.create(**record, outcome=outcome, result=result)
        except IntegrityError:  # the same key, decided meanwhile by a concurrent call
            first = _decided(operation, key)
        else:
            return outcome, result, seconds
    DummyGatewayCall.objects.create(**record, outcome=Outcome.REPLAYED, result=first[1])
    # A replay answers at once: the caller now learns what the timed-out call did.
    return (Outcome.SUCCEEDED if first[0] == Outcome.TIMED_OUT else first[0]), first[1], 0


def _decided(operation: str, key: str) -> tuple[str, str] | None:
    return (
        DummyGatewayCall.objects.filter(
            operation=operation,
            key=key,
            outcome__in=DummyGatewayCall.DECIDED,
        )
        .values_list("outcome", "result")
        .first()
    )


def _rule_outcome(operation: str, ref: str) -> tuple[str, int]:
    """What the call does, and how many seconds its answer takes."""
    with transaction.atomic():
        rule = (
            DummyGatewayRule.objects.select_for_update()
            .filter(operation__in=["", operation], reference__in=["", ref])
            .exclude(remaining=0)
            .order_by("pk")
            .first()
        )
        if rule is None:
            return Outcome.SUCCEEDED, 0
        if rule.remaining is not None:
            DummyGatewayRule.objects.filter(pk=rule.pk).update(remaining=F("remaining") - 1)
    if rule.behaviour == Behaviour.SLOW:
        return Outcome.SUCCEEDED, rule.seconds
    return {
        Behaviour.FAIL: Outcome.UNAVAILABLE,
        Behaviour.TIMEOUT: Outcome.TIMED_OUT,
        Behaviour.DECLINE: Outcome.DECLINED,
    }[rule.behaviour], 0
