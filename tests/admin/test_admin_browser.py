"""Store staff work in the admin: a real browser against a live server."""

import os
import shutil
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from inventory.models import Sku
from inventory.services import stock_receive
from stores.models import StaffMembership
from tests.admin.helpers import store_staff
from tests.factories import place_order
from tests.stores.factories import LocationFactory, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "a-long-staff-password-42"

SCREENSHOTS = Path(os.environ.get("OMNISTOCK_VAR_DIR", "var")) / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_browser():
    """Opens a headless Chromium page. Use it between database work, not around it:
    Playwright's event loop makes the ORM refuse to run in this thread meanwhile."""
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"Chromium is required in CI for admin browser tests ({CHROMIUM})")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    @contextmanager
    def page():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking"],
            )  # fmt: skip
            try:
                yield browser.new_page()
            finally:
                browser.close()

    return page


def _staff(username: str, location, role=StaffMembership.Role.ASSOCIATE):
    return store_staff(location, username, role=role, password=PASSWORD)


def _pickup_order(store, sku, actor):
    order = place_order(
        [(sku, 1)], location=store, email="shopper@example.com", actor=actor,
        key=f"browser-{store.code}",
    )  # fmt: skip
    return FulfillmentOrder.objects.get(order=order)


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_associate_accepts_and_picks_a_pickup_with_the_admin_buttons(open_browser, live_server):
    store = LocationFactory(code="SH-XUHUI")
    other = LocationFactory(code="SH-PUDONG")
    sku = Sku.objects.create(code="TEE-M", name="Running Tee M", price=Decimal("99.00"))
    stock_receive(location=store, sku=sku, quantity=5)
    stock_receive(location=other, sku=sku, quantity=5)
    associate = _staff("xuhui-associate", store)
    web = UserFactory(username="web")
    mine = _pickup_order(store, sku, web)
    theirs = _pickup_order(other, sku, web)

    mine_number, theirs_number = mine.order.number, theirs.order.number

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/?queue=to_accept")
        listing = page.inner_text("#result_list")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/{mine.pk}/change/")
        page.click("button[name=_fsm_transition_to][value=accept]")
        page.wait_for_selector(".messagelist")
        page.click("button[name=_fsm_transition_to][value=pick]")
        page.wait_for_selector(".messagelist")
        buttons = page.eval_on_selector_all(
            "button[name=_fsm_transition_to]", "els => els.map(e => e.value)"
        )
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/{theirs.pk}/change/")
        redirected_to = page.url

    assert mine_number in listing
    assert theirs_number not in listing  # another store's work is not shown
    mine.refresh_from_db()
    assert mine.status == FulfillmentOrder.Status.PICKED
    assert "ready" in buttons
    assert "accept" not in buttons
    assert mine.order.events.filter(kind="accepted", actor=associate).exists()
    assert f"/{theirs.pk}/change/" not in redirected_to  # sent back: not one of theirs


def test_wrong_pickup_code_in_the_admin_is_refused_and_nothing_changes(open_browser, live_server):
    store = LocationFactory(code="SH-JINGAN")
    sku = Sku.objects.create(code="CAP", name="Sport Cap", price=Decimal("129.00"))
    stock_receive(location=store, sku=sku, quantity=2)
    _staff("jingan-associate", store)
    fo = _pickup_order(store, sku, UserFactory(username="web"))
    actions.fulfillment_accept(fulfillment_order=fo)
    actions.fulfillment_pick(fulfillment_order=fo)
    actions.fulfillment_ready(fulfillment_order=fo)

    with open_browser() as page:
        _login(page, live_server, "jingan-associate")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/{fo.pk}/change/")
        page.click("button[name=_fsm_transition_to][value=handover]")
        page.fill("input[name=code]", "ZZZZZZ")
        page.click("input[type=submit]")
        page.wait_for_selector(".messagelist")
        message = page.inner_text(".messagelist")
        page.screenshot(path=str(SCREENSHOTS / "handover-refused.png"), full_page=True)

    fo.refresh_from_db()
    assert fo.status == FulfillmentOrder.Status.READY_FOR_PICKUP
    assert fo.pickup_code_failures == 1
    assert "pickup code does not match" in message.lower()
