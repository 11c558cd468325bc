"""Two merges at once, with real connections: they queue on the two rows, never corrupt."""

import threading

import pytest
from django.db import connection

from common.errors import DomainError
from customers.models import Customer
from customers.services import customer_merge
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _merge_at_once(pairs: list[tuple[Customer, Customer]]) -> list[str]:
    barrier = threading.Barrier(len(pairs))
    outcomes: list[str] = []

    def run(survivor, merged):
        try:
            barrier.wait()
            customer_merge(survivor=survivor, merged=merged, actor=None)
            outcomes.append("merged")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_two_records_merged_into_each_other_at_once_end_as_one_merge():
    ada = CustomerFactory(email="ada@example.com")
    again = CustomerFactory(email=None, phone="+8613800138000")

    outcomes = _merge_at_once([(ada, again), (again, ada)])

    assert outcomes == ["merge_not_allowed", "merged"]
    merged = list(Customer.objects.filter(merged_into__isnull=False))
    assert len(merged) == 1
    survivor = Customer.objects.get(merged_into__isnull=True)
    assert (survivor.email, survivor.phone) == ("ada@example.com", "+8613800138000")
    assert survivor.events.count() == merged[0].events.count() == 1


def test_a_chain_merged_at_once_never_leaves_a_record_pointing_at_a_merged_one():
    one, two, three = (CustomerFactory() for _ in range(3))

    _merge_at_once([(two, one), (three, two)])

    for record in Customer.objects.filter(merged_into__isnull=False).select_related("merged_into"):
        assert record.merged_into.merged_into_id is None
