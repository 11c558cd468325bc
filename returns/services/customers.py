"""Returns follow a customer merge: the survivor's history holds every return."""

from customers.models import Customer
from returns.models import Return


def returns_follow_customer_merge(*, survivor: Customer, merged: Customer) -> int:
    """Move the merged record's returns to the survivor (inside the merge's transaction).
    Returns how many moved."""
    return Return.objects.filter(customer=merged).update(customer=survivor)
