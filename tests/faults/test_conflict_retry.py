"""Two transactions that lock the same rows in opposite orders deadlock; PostgreSQL aborts
one, and `retry_on_conflict` runs it again so both succeed. Without retries the abort
reaches the caller, nothing of it written."""

import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIRequestFactory

from common.api import exception_handler
from common.db import is_conflict, retry_on_conflict
from inventory.models import Sku
from tests.inventory.factories import SkuFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _opposite_orders(first: Sku, second: Sku) -> tuple[list, dict[str, int]]:
    """Run two transactions at once: one locks first then second, the other second then
    first, each waiting at a barrier after its first lock so they must cross."""
    barrier = threading.Barrier(2, timeout=30)
    attempts = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def move(name: str, one: Sku, other: Sku) -> None:
        @retry_on_conflict
        @transaction.atomic
        def change() -> None:
            attempts[name] += 1
            Sku.objects.select_for_update().get(pk=one.pk)
            if attempts[name] == 1:
                barrier.wait()  # both hold their first row now
            Sku.objects.select_for_update().get(pk=other.pk)
            Sku.objects.filter(pk__in=[one.pk, other.pk]).update(price=Decimal("2.00"))

        try:
            change()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=move, args=("a", first, second)),
        threading.Thread(target=move, args=("b", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors, attempts


def test_deadlocked_transactions_both_succeed_after_a_retry():
    tee, mug = SkuFactory(code="TEE-R"), SkuFactory(code="MUG-R")

    errors, attempts = _opposite_orders(tee, mug)

    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL aborted one; it ran again
    assert set(Sku.objects.values_list("price", flat=True)) == {Decimal("2.00")}


def test_without_retries_the_deadlock_aborts_one_and_writes_nothing_of_it(settings):
    settings.DB_CONFLICT_ATTEMPTS = 1
    tee, mug = SkuFactory(code="TEE-R", price="9.00"), SkuFactory(code="MUG-R", price="9.00")

    errors, attempts = _opposite_orders(tee, mug)

    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert is_conflict(errors[0])
    assert attempts == {"a": 1, "b": 1}
    # the survivor's write only: both rows updated by one transaction, or both untouched
    assert set(Sku.objects.values_list("price", flat=True)) == {Decimal("2.00")}
    answer = exception_handler(errors[0], {"request": APIRequestFactory().post("/api/v1/x")})
    assert answer.status_code == 503
    assert answer["Retry-After"]
    assert answer.data["code"] == "service_unavailable"
    assert "same records at the same moment" in answer.data["detail"], "not 'cannot reach'"


def test_inside_an_outer_transaction_it_only_calls_through():
    calls = []

    @retry_on_conflict
    def inner() -> None:
        calls.append(connection.in_atomic_block)
        raise OperationalError("deadlock detected")

    with pytest.raises(OperationalError), transaction.atomic():
        inner()
    assert calls == [True]
