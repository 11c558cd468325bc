"""Returns received at a store and waiting for inspection are on that store's "Today"."""

import pytest

from stores.models import StaffMembership
from stores.roles import staff_role_grant
from tests.factories import staff_client, staff_member
from tests.inventory.factories import stock_put
from tests.returns.factories import line_of, open_return, web_checkout

pytestmark = pytest.mark.django_db


def associate_of(location):
    user = staff_member(location)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    staff_role_grant(user=user, role=StaffMembership.Role.ASSOCIATE)
    return user


def to_inspect(client) -> dict:
    [row] = [
        r for r in client.get("/admin/").context["today_rows"] if r["key"] == "returns.to_inspect"
    ]
    return row


def test_a_return_received_at_a_store_is_to_inspect_there_only(client, xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    at_xuhui = staff_client(xuhui)
    till = {"method": "carry_out", "location": "SH-XUHUI"}
    sale = web_checkout(at_xuhui, [(tee, 1)], till, channel="store",
                        payments=[{"method": "cash", "amount": "99.00"}])  # fmt: skip
    opened = open_return(at_xuhui, sale, [(line_of(sale, tee), 1)], location=xuhui)
    assert opened.status_code == 201, opened.content

    client.force_login(associate_of(xuhui))
    here = to_inspect(client)
    client.force_login(associate_of(pudong))
    there = to_inspect(client)

    assert (here["count"], there["count"]) == (1, 0)
    assert client.get(here["url"]).status_code == 200
