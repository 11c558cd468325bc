"""A manager at the counter finds two records of one customer and merges them, in a real
browser against a live server."""

import pytest
from django.contrib.auth.models import Permission

from stores.models import StaffMembership
from tests.admin.helpers import store_staff
from tests.admin.test_admin_browser import PASSWORD, _login, open_browser
from tests.customers.factories import MOBILE, CustomerFactory
from tests.stores.factories import LocationFactory

__all__ = ["open_browser"]  # the fixture, shared with the admin's browser tests

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_finds_two_members_by_phone_and_email_and_merges_them_after_confirming(
    open_browser, live_server
):
    store = LocationFactory(code="SH-XUHUI")
    manager = store_staff(store, "xuhui-manager", role=StaffMembership.Role.MANAGER,
                          password=PASSWORD)  # fmt: skip
    manager.user_permissions.add(Permission.objects.get(codename="view_customer"))
    online = CustomerFactory(email="ada@example.com", name="Ada Online", member_id="M111111116")
    till = CustomerFactory(email=None, phone=MOBILE, name="Ada Till", member_id="M222222224")

    with open_browser() as page:
        _login(page, live_server, "xuhui-manager")
        changelist = f"{live_server.url}/admin/customers/customer/"
        page.goto(f"{changelist}?q=138+0013+8000")
        assert "Ada Till" in page.content()
        page.goto(f"{changelist}?q=ADA@example.com")
        page.goto(changelist)  # both found at the counter: both listed now
        page.check(f"input[name=_selected_action][value='{online.pk}']")
        page.check(f"input[name=_selected_action][value='{till.pk}']")
        page.select_option("select[name=action]", "merge")
        page.click("button[name=index]")
        page.wait_for_selector("text=Merge two customers")
        page.check(f"input[name=survivor][value='{online.pk}']")
        page.check("input[name=confirm_member_ids]")
        page.click("input[type=submit][value=Merge]")
        page.wait_for_selector(".messagelist")
        message = page.inner_text(".messagelist")

    assert f"Customer {till.pk} merged into Ada Online" in message
    till.refresh_from_db()
    online.refresh_from_db()
    assert till.merged_into == online
    assert (online.phone, online.member_id) == (MOBILE, "M111111116")
