"""A store's day in the admin, in a real browser: Today, the work board, the fulfillment
order page, pick lists and stock. Each flow saves screenshots under var/screenshots/."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from inventory.models import Sku, StockLevel
from inventory.services import stock_receive
from stores.models import StaffMembership
from tests.admin.helpers import store_staff
from tests.admin.test_admin_browser import PASSWORD, SCREENSHOTS
from tests.factories import place_order
from tests.stores.factories import LocationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
Role = StaffMembership.Role


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


@pytest.fixture
def store():
    store = LocationFactory(
        code="SH-XUHUI", name="Shanghai Xujiahui", can_ship=True, can_pickup=True,
        can_curbside=True,
    )  # fmt: skip
    tee = Sku.objects.create(
        code="TEE-M", name="Running Tee M", barcode="6900000000017", price=Decimal("99.00")
    )
    cap = Sku.objects.create(
        code="CAP", name="Sport Cap", barcode="6900000000024", price=Decimal("129.00")
    )
    for sku in (tee, cap):
        stock_receive(location=store, sku=sku, quantity=24)
    return store, tee, cap


def _order(store, skus, *, method="pickup", name="Li Wei", key="o"):
    order = place_order(
        [(sku, 1) for sku in skus], method=method, location=store if method != "ship" else None,
        name=name, email=f"{key}@example.com", key=key, actor=UserFactory(username=f"web-{key}"),
    )  # fmt: skip
    return FulfillmentOrder.objects.get(order=order)


def test_associate_runs_a_pickup_from_today_to_handover_with_the_code(
    open_browser, live_server, store
):
    location, tee, cap = store
    store_staff(location, "xuhui-associate", password=PASSWORD)
    fo = _order(location, [tee, cap], key="pickup")
    number = fo.order.number

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        _shot(page, "after-today")
        today = page.inner_text("#today")
        page.click("[data-row='fulfillment.to_accept'] a")
        page.click(f"text={number}")
        page.click("#fo-actions button[value=accept]")
        page.wait_for_selector(".messagelist")
        accepted = page.inner_text(".messagelist")
        page.click("#fo-actions button[value=pick]")
        page.wait_for_selector(".messagelist")
        page.click("#fo-actions button[value=ready]")
        page.wait_for_selector("#fo-code")
        code = re.search(r"Your pickup code: (\w+)", mail.outbox[-1].body).group(1)
        page.fill("#fo-code-input", "WRONG1")
        page.click("#fo-code button.default")
        page.wait_for_selector(".messagelist")
        refused = page.inner_text(".messagelist")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/{fo.pk}/change/")
        tries = page.inner_text("#fo-tries")
        _shot(page, "after-fulfillment-order-tries-left")
        page.fill("#fo-code-input", code)
        page.click("#fo-code button.default")
        page.wait_for_selector(".messagelist")
        handed = page.inner_text(".messagelist")
        _shot(page, "after-fulfillment-order-handed-over")

    assert "To accept" in today
    assert f"Order {number}: accepted." in accepted
    assert "does not match. 4 tries are left" in refused
    assert "4 of 5 tries left" in tries
    assert "handed over" in handed
    fo.refresh_from_db()
    assert fo.status == FulfillmentOrder.Status.PICKED_UP


def test_a_ship_from_store_order_is_accepted_picked_from_a_printed_list_packed_and_shipped(
    open_browser, live_server, store
):
    location, tee, cap = store
    store_staff(location, "xuhui-associate", password=PASSWORD)
    fo = _order(location, [tee, cap], method="ship", key="ship")
    assert fo.location == location
    board = f"{live_server.url}/admin/fulfillment/fulfillmentorder/"

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        page.goto(board)
        page.check(f"#result_list input[name=_selected_action][value='{fo.pk}']")
        page.select_option("select[name=action]", "accept_selected")
        page.click("button[name=index]")
        page.wait_for_selector(".messagelist")
        accepted = page.inner_text(".messagelist")
        page.check(f"#result_list input[name=_selected_action][value='{fo.pk}']")
        page.select_option("select[name=action]", "print_pick_list")
        page.click("button[name=index]")
        page.wait_for_selector("section.order")
        pick_list = page.inner_text("section.order")
        page.emulate_media(media="print")
        _shot(page, "after-pick-list-print")
        page.emulate_media(media="screen")
        page.goto(f"{board}{fo.pk}/change/")
        page.click("#fo-actions button[value=pick]")
        page.wait_for_selector(".messagelist")
        page.click("#fo-actions button[value=pack]")
        page.wait_for_selector(".messagelist")
        page.click("#fo-actions button[value=ship]")
        page.fill("input[name=carrier]", "SF Express")
        page.fill("input[name=tracking_number]", "SF123456789")
        page.click("input[type=submit]")
        page.wait_for_selector(".messagelist")
        shipped = page.inner_text(".messagelist")

    assert "Accepted 1" in accepted
    assert "Running Tee M" in pick_list
    assert "Sport Cap" in pick_list
    assert "6900000000017" in pick_list  # the barcode to scan
    assert "shipped" in shipped
    fo.refresh_from_db()
    assert (fo.status, fo.tracking_number) == (FulfillmentOrder.Status.SHIPPED, "SF123456789")


def test_a_curbside_arrival_is_highlighted_on_today_and_the_board(open_browser, live_server, store):
    location, tee, _ = store
    store_staff(location, "xuhui-associate", password=PASSWORD)
    fo = _order(location, [tee], method="curbside", name="Zhang Min", key="curb")
    _order(location, [tee], name="Wang Fang", key="other")
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_ready):
        step(fulfillment_order=fo)
    actions.fulfillment_customer_arrived(fulfillment_order=fo, parking_spot="B12")

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        arrived = page.inner_text("[data-row='fulfillment.arrived']")
        highlighted = page.get_attribute("[data-row='fulfillment.arrived']", "class")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/")
        row = page.inner_text("tr.row-arrived")
        _shot(page, "after-board-curbside-arrived")

    assert "Zhang Min at bay B12" in arrived
    assert "today-highlight" in highlighted
    assert "Customer outside at bay B12" in row
    assert "Zhang Min" in row


def test_a_manager_adjusts_stock_and_sets_safety_stock(open_browser, live_server, store):
    location, tee, _ = store
    store_staff(location, "xuhui-manager", role=Role.MANAGER, password=PASSWORD)
    levels = f"{live_server.url}/admin/inventory/stocklevel/"

    with open_browser() as page:
        _login(page, live_server, "xuhui-manager")
        page.goto(levels)
        page.fill("#searchbar", "6900000000017")  # scanned barcode
        page.press("#searchbar", "Enter")
        found = page.inner_text("#result_list")
        page.click("#result_list tbody a:has-text('Record a change')")
        page.select_option("select[name=reason]", "write_off")
        page.fill("input[name=quantity]", "30")
        page.fill("input[name=note]", "water damage")
        page.click("input[name=_save]")
        refused = page.inner_text(".errorlist")
        kept = page.input_value("input[name=note]")
        _shot(page, "after-stock-change-refused")
        page.select_option("select[name=reason]", "adjustment")
        page.fill("input[name=quantity]", "-1")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist")
        adjusted = page.inner_text(".messagelist")
        page.click("#result_list tbody a[href*='safety-stock']")
        page.fill("input[name=safety_stock]", "2")
        page.fill("input[name=reason]", "keep two for walk-ins")
        page.click("input[type=submit]")
        page.wait_for_selector(".messagelist")
        safety = page.inner_text(".messagelist")
        row = page.inner_text("#result_list tbody tr")
        _shot(page, "after-stock-safety-set")

    assert "TEE-M" in found
    assert "CAP" not in found
    assert "Not recorded for TEE-M Running Tee M" in refused
    assert "you entered 30" in refused
    assert kept == "water damage"
    assert "on hand 24 → 23 (-1)" in adjusted
    assert "safety stock 0 → 2. Available to promise online now 21." in safety
    assert "21" in row
    assert StockLevel.objects.get(location=location, sku=tee).safety_stock == 2


def test_the_board_at_phone_width_shows_each_orders_customer_items_and_deadline(
    open_browser, live_server, store
):
    location, tee, cap = store
    store_staff(location, "xuhui-associate", password=PASSWORD)
    _order(location, [tee, cap], name="Chen Jing", key="phone")

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/")
        card = page.locator("#result_list tbody tr").first
        customer = card.locator(".field-customer_name").is_visible()
        text = card.inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        _shot(page, "after-board-phone")
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/")
        wide = page.evaluate("document.documentElement.scrollWidth")
        _shot(page, "after-board")

    assert customer
    assert "Chen Jing" in text
    assert "2 items" in text
    assert "Accept by" in text
    assert width <= 400  # no sideways scrolling on a phone
    assert wide <= 1366


@pytest.fixture
def production_static(tmp_path):
    """Production's static files: hashed names from a collected manifest, as `make run`
    and the Docker image serve them with DEBUG off."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(
        DEBUG=False, STATIC_ROOT=tmp_path / "static", STORAGES=storages,
        SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True,
    ):  # fmt: skip
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


def test_with_production_settings_staff_log_in_and_work_the_board(
    production_static, open_browser, live_server, store
):
    location, tee, _ = store
    store_staff(location, "xuhui-associate", password=PASSWORD)
    fo = _order(location, [tee], key="prod")

    with open_browser() as page:
        _login(page, live_server, "xuhui-associate")
        page.goto(f"{live_server.url}/admin/fulfillment/fulfillmentorder/")
        board = page.inner_text("#result_list")
        response = page.goto(
            f"{live_server.url}/admin/fulfillment/fulfillmentorder/{fo.pk}/change/"
        )
        status = response.status
        page.click("#fo-actions button[value=accept]")
        page.wait_for_selector(".messagelist")
        _shot(page, "after-production-fulfillment-order")

    assert fo.order.number in board
    assert status == 200
    fo.refresh_from_db()
    assert fo.status == FulfillmentOrder.Status.ACCEPTED


def test_a_manager_asks_another_store_for_stock_which_ships_it_and_this_store_receives(
    open_browser, live_server, store
):
    location, tee, _ = store
    other = LocationFactory(code="SH-PUDONG", name="Shanghai Lujiazui")
    stock_receive(location=other, sku=tee, quantity=30)
    store_staff(location, "xuhui-manager", role=Role.MANAGER, password=PASSWORD)
    store_staff(other, "pudong-associate", password=PASSWORD)
    transfers = f"{live_server.url}/admin/inventory/transfer/"

    def run(page, action: str) -> str:
        page.goto(transfers)
        page.check("#result_list input[name=_selected_action]")
        page.select_option("select[name=action]", action)
        page.click("button[name=index]")
        page.wait_for_selector(".messagelist")
        return page.inner_text(".messagelist")

    with open_browser() as page:
        _login(page, live_server, "xuhui-manager")
        page.goto(f"{transfers}add/")
        page.select_option("select[name=from_location]", label=str(other))
        page.fill("input[name=sku]", "6900000000017")
        page.fill("input[name=quantity]", "6")
        page.fill("input[name=note]", "weekend promotion")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist")
        asked = page.inner_text(".messagelist")
        refused = run(page, "ship_selected")  # not ours to ship
        page.context.clear_cookies()
        _login(page, live_server, "pudong-associate")
        to_ship = page.inner_text("[data-row='inventory.transfers_outgoing']")
        shipped = run(page, "ship_selected")
        page.context.clear_cookies()
        _login(page, live_server, "xuhui-manager")
        to_receive = page.inner_text("[data-row='inventory.transfers_incoming']")
        received = run(page, "receive_selected")
        _shot(page, "after-transfer-received")

    assert "Asked SH-PUDONG for 6 x TEE-M" in asked
    assert "Only staff of SH-PUDONG can ship it." in refused
    assert to_ship.startswith("1")
    assert "Shipped: 6 x TEE-M SH-PUDONG → SH-XUHUI" in shipped
    assert to_receive.startswith("1")
    assert "Received: 6 x TEE-M" in received
    assert StockLevel.objects.get(location=location, sku=tee).on_hand == 30
    assert StockLevel.objects.get(location=other, sku=tee).on_hand == 24
