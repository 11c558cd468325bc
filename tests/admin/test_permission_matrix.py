"""Who sees and does what in the admin: associate and manager of store A, associate of
store B, a warehouse operator and a superuser, over every list, page, action, filter and
autocomplete of the store's workspace. Nobody reads or acts on another location's records."""

from decimal import Decimal

import pytest
from django.urls import reverse

from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from inventory.models import Sku, StockLevel, StockMovement
from inventory.services import stock_receive
from stores.models import Location, StaffMembership
from tests.admin.helpers import store_staff
from tests.factories import place_order
from tests.stores.factories import LocationFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role
USERS = ["associate_a", "manager_a", "associate_b", "operator", "superuser"]
# Which locations' records each user works with.
SEES = {
    "associate_a": {"A"},
    "manager_a": {"A"},
    "associate_b": {"B"},
    "operator": {"W"},
    "superuser": {"A", "B", "W"},
}


@pytest.fixture
def chain(django_capture_on_commit_callbacks):
    a = LocationFactory(code="SH-XUHUI")
    b = LocationFactory(code="SH-PUDONG")
    w = WarehouseFactory(code="DC-KUNSHAN")
    sku = Sku.objects.create(code="TEE-M", name="Running Tee M", price=Decimal("99.00"))
    for location in (a, b, w):
        stock_receive(location=location, sku=sku, quantity=10)
    web = UserFactory(username="web")
    fos = {}
    # Released to the locations after checkout commits, as in production.
    with django_capture_on_commit_callbacks(execute=True):
        orders = {
            name: place_order(
                [(sku, 1)], location=location, actor=web, key=f"m-{name}", email=f"{name}@x.cn"
            )
            for name, location in (("A", a), ("B", b))
        }
    for name, order in orders.items():
        fos[name] = FulfillmentOrder.objects.get(order=order)
    Location.objects.filter(pk__in=[a.pk, b.pk]).update(can_ship=False)
    with django_capture_on_commit_callbacks(execute=True):
        ship = place_order([(sku, 1)], method="ship", actor=web, key="m-W", email="w@x.cn")
    fos["W"] = FulfillmentOrder.objects.get(order=ship)
    users = {
        "associate_a": store_staff(a, "assoc-a"),
        "manager_a": store_staff(a, "manager-a", role=Role.MANAGER),
        "associate_b": store_staff(b, "assoc-b"),
        "operator": store_staff(w, "operator-w", role=Role.OPERATOR),
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
    }
    levels = {
        name: StockLevel.objects.get(location=loc, sku=sku)
        for name, loc in (("A", a), ("B", b), ("W", w))
    }
    return {"locations": {"A": a, "B": b, "W": w}, "fos": fos, "users": users,
            "levels": levels, "sku": sku}  # fmt: skip


def _as(client, chain, user):
    client.force_login(chain["users"][user])
    return client


def _where(fo_ids, chain) -> set[str]:
    names = {fo.pk: name for name, fo in chain["fos"].items()}
    return {names[pk] for pk in fo_ids if pk in names}


@pytest.mark.parametrize("user", USERS)
def test_the_work_board_lists_only_the_users_locations(client, chain, user):
    response = _as(client, chain, user).get("/admin/fulfillment/fulfillmentorder/?work=all")

    assert response.status_code == 200
    shown = {fo.pk for fo in response.context["cl"].result_list}
    assert _where(shown, chain) == SEES[user]


@pytest.mark.parametrize("user", USERS)
def test_the_fulfillment_order_page_opens_only_at_the_users_locations(client, chain, user):
    client = _as(client, chain, user)
    for name, fo in chain["fos"].items():
        response = client.get(f"/admin/fulfillment/fulfillmentorder/{fo.pk}/change/")
        if name in SEES[user]:
            assert response.status_code == 200
            assert b"Perhaps it was deleted" not in response.content
        else:
            assert response.status_code == 302
            followed = client.get(response.url)
            assert "is not one of your locations" in followed.content.decode()


@pytest.mark.parametrize("user", USERS)
def test_actions_and_buttons_never_touch_another_locations_work(client, chain, user):
    client = _as(client, chain, user)
    others = [fo for name, fo in chain["fos"].items() if name not in SEES[user]]
    for fo in others:
        client.post(
            "/admin/fulfillment/fulfillmentorder/?work=all",
            {"action": "accept_selected", "_selected_action": [fo.pk]},
        )
        client.post(
            f"/admin/fulfillment/fulfillmentorder/{fo.pk}/change/",
            {"_fsm_transition_to": "accept"},
        )
        client.post(
            f"/admin/fulfillment/fulfillmentorder/{fo.pk}/transition/reject/",
            {"reason": "other", "note": "not mine"},
        )
        client.post(f"/admin/fulfillment/fulfillmentorder/{fo.pk}/resend-code/")
        fo.refresh_from_db()
        assert fo.status == FulfillmentOrder.Status.PENDING


@pytest.mark.parametrize("user", USERS)
def test_a_pick_list_prints_only_the_users_orders(client, chain, user):
    ids = ",".join(str(fo.pk) for fo in chain["fos"].values())

    response = _as(client, chain, user).get(
        reverse("admin:fulfillment_fulfillmentorder_pick_list") + f"?ids={ids}"
    )

    printed = {row["fo"].pk for row in response.context["orders"]}
    assert _where(printed, chain) == SEES[user]


@pytest.mark.parametrize("user", USERS)
def test_the_location_filter_offers_only_the_users_locations(client, chain, user):
    response = _as(client, chain, user).get("/admin/fulfillment/fulfillmentorder/")

    page = response.content.decode()
    for location in chain["locations"].values():
        offered = f"?location={location.pk}" in page or f"location={location.pk}&" in page
        if user != "superuser":
            assert not offered  # one location: nothing to choose, nobody else's to list
        else:
            assert offered


@pytest.mark.parametrize("user", USERS)
def test_stock_lists_only_the_users_locations(client, chain, user):
    response = _as(client, chain, user).get("/admin/inventory/stocklevel/")

    shown = {level.pk for level in response.context["cl"].result_list}
    names = {level.pk: name for name, level in chain["levels"].items()}
    assert {names[pk] for pk in shown} == SEES[user]


@pytest.mark.parametrize(
    ("user", "level", "allowed"),
    [
        ("associate_a", "A", False),
        ("manager_a", "A", True),
        ("manager_a", "B", False),
        ("associate_b", "B", False),
        ("operator", "W", True),
        ("operator", "A", False),
        ("superuser", "B", True),
    ],
)
def test_only_a_manager_or_operator_sets_safety_stock_at_their_location(
    client, chain, user, level, allowed
):
    target = chain["levels"][level]

    response = _as(client, chain, user).post(
        reverse("admin:inventory_stocklevel_safety", args=[target.pk]),
        {"safety_stock": 3, "reason": "test"},
    )

    target.refresh_from_db()
    assert (target.safety_stock == 3) is allowed
    if not allowed:
        assert response.status_code in (302, 403)


@pytest.mark.parametrize(
    ("user", "at", "allowed"),
    [
        ("associate_a", "A", False),
        ("manager_a", "A", True),
        ("manager_a", "B", False),
        ("associate_b", "B", False),
        ("operator", "W", True),
        ("superuser", "B", True),
    ],
)
def test_only_stock_keepers_record_movements_and_only_at_their_locations(
    client, chain, user, at, allowed
):
    location = chain["locations"][at]
    before = StockMovement.objects.count()

    response = _as(client, chain, user).post(
        "/admin/inventory/stockmovement/add/",
        {"location": location.pk, "sku": "TEE-M", "reason": "receipt", "quantity": 4,
         "note": "delivery"},
    )  # fmt: skip

    assert (StockMovement.objects.count() == before + 1) is allowed
    assert response.status_code in (200, 302, 403)


def test_an_associate_cannot_override_the_pickup_code(client, chain):
    fo = chain["fos"]["A"]
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_ready):
        step(fulfillment_order=fo)
    client = _as(client, chain, "associate_a")

    page = client.get(f"/admin/fulfillment/fulfillmentorder/{fo.pk}/change/").content.decode()
    client.post(
        f"/admin/fulfillment/fulfillmentorder/{fo.pk}/transition/handover/",
        {"code": "", "override_reason": "customer forgot the code"},
    )

    fo.refresh_from_db()
    assert fo.status == FulfillmentOrder.Status.READY_FOR_PICKUP
    assert "hand over without the code" not in page  # the override is not offered


def test_a_manager_is_offered_the_override_and_it_hands_over(client, chain):
    fo = chain["fos"]["A"]
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_ready):
        step(fulfillment_order=fo)
    client = _as(client, chain, "manager_a")

    page = client.get(f"/admin/fulfillment/fulfillmentorder/{fo.pk}/change/").content.decode()
    client.post(
        f"/admin/fulfillment/fulfillmentorder/{fo.pk}/transition/handover/",
        {"code": "", "override_reason": "customer forgot the code"},
    )

    fo.refresh_from_db()
    assert "hand over without the code" in page
    assert fo.status == FulfillmentOrder.Status.PICKED_UP


@pytest.mark.parametrize("user", ["associate_a", "manager_a", "associate_b", "operator"])
def test_staff_autocomplete_never_lists_people_or_other_stores_staff(client, chain, user):
    response = _as(client, chain, user).get(
        "/admin/autocomplete/",
        {"app_label": "stores", "model_name": "staffmembership", "field_name": "user",
         "term": "a"},
    )  # fmt: skip

    assert response.status_code == 403


@pytest.mark.parametrize("user", USERS)
def test_the_order_page_opens_only_for_orders_at_the_users_locations(client, chain, user):
    client = _as(client, chain, user)
    for name, fo in chain["fos"].items():
        response = client.get(f"/admin/orders/order/{fo.order_id}/change/")
        assert (response.status_code == 200) is (name in SEES[user])


@pytest.mark.parametrize("user", USERS)
def test_today_counts_only_the_users_work(client, chain, user):
    response = _as(client, chain, user).get("/admin/")

    [to_accept] = [r for r in response.context["today_rows"] if r["key"].endswith("to_accept")]
    assert to_accept["count"] == len(SEES[user])


@pytest.mark.parametrize("user", ["associate_a", "associate_b", "operator"])
def test_any_order_opens_read_only_by_its_exact_number(client, chain, user):
    client = _as(client, chain, user)
    for name, fo in chain["fos"].items():
        number = fo.order.number
        listed = client.get("/admin/orders/order/", {"q": number})
        page = client.get(
            f"/admin/orders/order/{fo.order_id}/change/",
            {"_changelist_filters": f"q={number}"},
        )
        cancel = client.post(
            "/admin/orders/order/", {"action": "cancel_orders", "_selected_action": [fo.order_id]}
        )

        assert [o.number for o in listed.context["cl"].result_list] == [number]
        assert page.status_code == 200
        assert b'name="_save"' not in page.content  # read-only
        fo.order.refresh_from_db()
        if name not in SEES[user]:
            assert fo.order.status != "cancelled"
            assert cancel.status_code in (200, 302)
