"""Who may open each admin URL and run each changelist action: every URL the admin site's
resolver knows and every action of every registered ModelAdmin, as every kind of user,
against the table below. An object's URLs are opened on a record of store A. A URL or an
action without a row fails, naming itself.

Answers: OK (the page, or a redirect onward), LOGIN (sent to the login page), 403, GONE (no
such record for them: a 404, or a record's URL sending them back to the list, "not one of
your locations' records", or to the front page).
An action is OK when the changelist offers it to that user, else 403.
"""

from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLResolver, reverse

from common.models import ApiToken, OutboxEvent
from common.tokens import channel_user_get_or_create, token_issue
from customers.points import points_adjust
from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from fulfillment.services.pickup_codes import pickup_code_issue
from inventory import services as stock
from inventory.models import CountRequest, Reservation, StockLevel, StockMovement
from payments.models import DummyGatewayCall, DummyGatewayRule, Payment, PaymentTransaction
from payments.services import payment_record
from returns.services.lifecycle import ReturnLineRequest, ReturnRequest, return_open
from stores.models import StaffMembership
from stores.services import store_token_user_get_or_create
from tests.admin.helpers import store_staff
from tests.factories import place_order

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role
ROLES = ["anonymous", "web", "store_a", "associate_a", "manager_a", "associate_b", "operator",
         "superuser"]  # fmt: skip
OK, LOGIN, GONE = "ok", "login", "gone"


def _admin_routes(patterns=None, prefix: str = ""):
    """(route, name) of every URL pattern of the admin site, relative to /admin/."""
    for pattern in admin.site.get_urls() if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _admin_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.name


def admin_routes() -> list[str]:
    # The catch-all at the end only redirects unknown paths to the login or a 404; the
    # regular expression of an app's index is keyed by its name.
    return [name if route.startswith("^") else route for route, name in _admin_routes()
            if route != "(?P<url>.*)$"]  # fmt: skip


def admin_actions() -> list[str]:
    """Every action of every registered ModelAdmin, as "app.model:action"."""
    return sorted(
        f"{model._meta.label_lower}:{name}"
        for model, model_admin in admin.site._registry.items()
        for _, name, _ in model_admin._get_base_actions()
    )


# Users who are no staff never get past the login page: a channel's service user (web, or a
# store's token user) included.
OUT = (LOGIN, LOGIN, LOGIN)
EVERY_STAFF = (*OUT, OK, OK, OK, OK, OK)
SUPERUSER_ONLY = (*OUT, 403, 403, 403, 403, OK)
NOBODY = (*OUT, 403, 403, 403, 403, 403)  # read-only records, or changed by services only
# A record of store A: its staff and a superuser open it; store B and the warehouse do not
# see it at all.
STORE_A_RECORD = (*OUT, OK, OK, GONE, GONE, OK)
STOCK_KEEPERS = (*OUT, 403, OK, 403, OK, OK)  # managers and warehouse operators
MANAGERS = (*OUT, 403, OK, 403, 403, OK)
# The old URL of a record's page only redirects to the page (whose own row says who opens it).
TO_ITS_PAGE = EVERY_STAFF
# A fulfillment button opened without its input: refused as a bad request at store A.
BUTTON = (*OUT, 400, 400, GONE, GONE, 400)

# Admin URL (relative to /admin/) or "app.model:action" -> the answer of each role, in the
# order of ROLES.
ACCESS: dict[str, tuple] = {
    "": EVERY_STAFF,
    "login/": (OK,) * 8,
    "logout/": (OK, OK, OK, 405, 405, 405, 405, 405),
    "password_change/": EVERY_STAFF,
    "password_change/done/": EVERY_STAFF,
    "autocomplete/": NOBODY,
    "jsi18n/": EVERY_STAFF,
    # No record has a page on a site of its own.
    "r/<path:content_type_id>/<path:object_id>/": (*OUT, GONE, GONE, GONE, GONE, GONE),
    "auth/group/": SUPERUSER_ONLY,
    "auth/group/add/": SUPERUSER_ONLY,
    "auth/group/<path:object_id>/history/": SUPERUSER_ONLY,
    "auth/group/<path:object_id>/delete/": SUPERUSER_ONLY,
    "auth/group/<path:object_id>/change/": SUPERUSER_ONLY,
    "auth/group/<path:object_id>/": TO_ITS_PAGE,
    "auth/user/<id>/password/": SUPERUSER_ONLY,
    "auth/user/": SUPERUSER_ONLY,
    "auth/user/add/": SUPERUSER_ONLY,
    "auth/user/<path:object_id>/history/": SUPERUSER_ONLY,
    "auth/user/<path:object_id>/delete/": SUPERUSER_ONLY,
    "auth/user/<path:object_id>/change/": SUPERUSER_ONLY,
    "auth/user/<path:object_id>/": TO_ITS_PAGE,
    "common/apitoken/": SUPERUSER_ONLY,
    "common/apitoken/add/": SUPERUSER_ONLY,
    "common/apitoken/<path:object_id>/history/": SUPERUSER_ONLY,
    "common/apitoken/<path:object_id>/delete/": SUPERUSER_ONLY,
    "common/apitoken/<path:object_id>/change/": SUPERUSER_ONLY,
    "common/apitoken/<path:object_id>/": TO_ITS_PAGE,
    "common/outboxevent/": SUPERUSER_ONLY,
    "common/outboxevent/add/": NOBODY,
    "common/outboxevent/<path:object_id>/history/": SUPERUSER_ONLY,
    "common/outboxevent/<path:object_id>/delete/": SUPERUSER_ONLY,
    "common/outboxevent/<path:object_id>/change/": SUPERUSER_ONLY,
    "common/outboxevent/<path:object_id>/": TO_ITS_PAGE,
    "stores/location/": EVERY_STAFF,
    "stores/location/add/": SUPERUSER_ONLY,
    "stores/location/<path:object_id>/history/": EVERY_STAFF,
    "stores/location/<path:object_id>/delete/": SUPERUSER_ONLY,
    "stores/location/<path:object_id>/change/": EVERY_STAFF,
    "stores/location/<path:object_id>/": TO_ITS_PAGE,
    "stores/staffmembership/": MANAGERS,
    "stores/staffmembership/add/": SUPERUSER_ONLY,
    "stores/staffmembership/<path:object_id>/history/": (*OUT, 403, OK, GONE, GONE, OK),
    "stores/staffmembership/<path:object_id>/delete/": SUPERUSER_ONLY,
    "stores/staffmembership/<path:object_id>/change/": MANAGERS,
    "stores/staffmembership/<path:object_id>/": TO_ITS_PAGE,
    "inventory/sku/": EVERY_STAFF,
    "inventory/sku/add/": SUPERUSER_ONLY,
    "inventory/sku/<path:object_id>/history/": EVERY_STAFF,
    "inventory/sku/<path:object_id>/delete/": SUPERUSER_ONLY,
    "inventory/sku/<path:object_id>/change/": EVERY_STAFF,
    "inventory/sku/<path:object_id>/": TO_ITS_PAGE,
    "inventory/stocklevel/<int:pk>/safety-stock/": (*OUT, 403, OK, GONE, GONE, OK),
    "inventory/stocklevel/": EVERY_STAFF,
    "inventory/stocklevel/add/": NOBODY,
    "inventory/stocklevel/<path:object_id>/history/": STORE_A_RECORD,
    "inventory/stocklevel/<path:object_id>/delete/": NOBODY,
    "inventory/stocklevel/<path:object_id>/change/": STORE_A_RECORD,
    "inventory/stocklevel/<path:object_id>/": TO_ITS_PAGE,
    "inventory/stockmovement/": EVERY_STAFF,
    "inventory/stockmovement/add/": STOCK_KEEPERS,
    "inventory/stockmovement/<path:object_id>/history/": STORE_A_RECORD,
    "inventory/stockmovement/<path:object_id>/delete/": NOBODY,
    "inventory/stockmovement/<path:object_id>/change/": STORE_A_RECORD,
    "inventory/stockmovement/<path:object_id>/": TO_ITS_PAGE,
    "inventory/countrequest/": EVERY_STAFF,
    "inventory/countrequest/add/": NOBODY,
    "inventory/countrequest/<path:object_id>/history/": STORE_A_RECORD,
    "inventory/countrequest/<path:object_id>/delete/": NOBODY,
    "inventory/countrequest/<path:object_id>/change/": STORE_A_RECORD,
    "inventory/countrequest/<path:object_id>/": TO_ITS_PAGE,
    "inventory/reservation/": EVERY_STAFF,
    "inventory/reservation/add/": NOBODY,
    "inventory/reservation/<path:object_id>/history/": STORE_A_RECORD,
    "inventory/reservation/<path:object_id>/delete/": NOBODY,
    "inventory/reservation/<path:object_id>/change/": STORE_A_RECORD,
    "inventory/reservation/<path:object_id>/": TO_ITS_PAGE,
    "inventory/transfer/": EVERY_STAFF,
    "inventory/transfer/add/": STOCK_KEEPERS,
    "inventory/transfer/<path:object_id>/history/": (*OUT, OK, OK, GONE, OK, OK),
    "inventory/transfer/<path:object_id>/delete/": NOBODY,
    "inventory/transfer/<path:object_id>/change/": (*OUT, OK, OK, GONE, OK, OK),
    "inventory/transfer/<path:object_id>/": TO_ITS_PAGE,
    "customers/pointsentry/": EVERY_STAFF,
    "customers/pointsentry/add/": MANAGERS,
    "customers/pointsentry/<path:object_id>/history/": STORE_A_RECORD,
    "customers/pointsentry/<path:object_id>/delete/": NOBODY,
    "customers/pointsentry/<path:object_id>/change/": STORE_A_RECORD,
    "customers/pointsentry/<path:object_id>/": TO_ITS_PAGE,
    "payments/payment/": SUPERUSER_ONLY,
    "payments/payment/add/": NOBODY,
    "payments/payment/<path:object_id>/history/": SUPERUSER_ONLY,
    "payments/payment/<path:object_id>/delete/": NOBODY,
    "payments/payment/<path:object_id>/change/": SUPERUSER_ONLY,
    "payments/payment/<path:object_id>/": TO_ITS_PAGE,
    "payments/paymenttransaction/": SUPERUSER_ONLY,
    "payments/paymenttransaction/add/": NOBODY,
    "payments/paymenttransaction/<path:object_id>/history/": SUPERUSER_ONLY,
    "payments/paymenttransaction/<path:object_id>/delete/": NOBODY,
    "payments/paymenttransaction/<path:object_id>/change/": SUPERUSER_ONLY,
    "payments/paymenttransaction/<path:object_id>/": TO_ITS_PAGE,
    "payments/dummygatewaycall/": SUPERUSER_ONLY,
    "payments/dummygatewaycall/add/": NOBODY,
    "payments/dummygatewaycall/<path:object_id>/history/": SUPERUSER_ONLY,
    "payments/dummygatewaycall/<path:object_id>/delete/": NOBODY,
    "payments/dummygatewaycall/<path:object_id>/change/": SUPERUSER_ONLY,
    "payments/dummygatewaycall/<path:object_id>/": TO_ITS_PAGE,
    "payments/dummygatewayrule/": SUPERUSER_ONLY,
    "payments/dummygatewayrule/add/": SUPERUSER_ONLY,
    "payments/dummygatewayrule/<path:object_id>/history/": SUPERUSER_ONLY,
    "payments/dummygatewayrule/<path:object_id>/delete/": SUPERUSER_ONLY,
    "payments/dummygatewayrule/<path:object_id>/change/": SUPERUSER_ONLY,
    "payments/dummygatewayrule/<path:object_id>/": TO_ITS_PAGE,
    "orders/order/": EVERY_STAFF,
    "orders/order/add/": NOBODY,
    "orders/order/<path:object_id>/history/": STORE_A_RECORD,
    "orders/order/<path:object_id>/delete/": NOBODY,
    "orders/order/<path:object_id>/change/": STORE_A_RECORD,
    "orders/order/<path:object_id>/": TO_ITS_PAGE,
    "fulfillment/fulfillmentorder/pick-list/": EVERY_STAFF,
    "fulfillment/fulfillmentorder/<int:object_id>/resend-code/": STORE_A_RECORD,
    "fulfillment/fulfillmentorder/<path:object_id>/transition/<str:transition_name>/": BUTTON,
    "fulfillment/fulfillmentorder/": EVERY_STAFF,
    "fulfillment/fulfillmentorder/add/": NOBODY,
    "fulfillment/fulfillmentorder/<path:object_id>/history/": STORE_A_RECORD,
    "fulfillment/fulfillmentorder/<path:object_id>/delete/": NOBODY,
    "fulfillment/fulfillmentorder/<path:object_id>/change/": STORE_A_RECORD,
    "fulfillment/fulfillmentorder/<path:object_id>/": TO_ITS_PAGE,
    "returns/return/start/<str:number>/": EVERY_STAFF,
    "returns/return/<path:object_id>/transition/<str:transition_name>/": STORE_A_RECORD,
    "returns/return/": EVERY_STAFF,
    "returns/return/add/": NOBODY,
    "returns/return/<path:object_id>/history/": STORE_A_RECORD,
    "returns/return/<path:object_id>/delete/": NOBODY,
    "returns/return/<path:object_id>/change/": STORE_A_RECORD,
    "returns/return/<path:object_id>/": TO_ITS_PAGE,
    "customers/customer/": EVERY_STAFF,
    "customers/customer/add/": SUPERUSER_ONLY,
    "customers/customer/<path:object_id>/history/": STORE_A_RECORD,
    "customers/customer/<path:object_id>/delete/": SUPERUSER_ONLY,
    "customers/customer/<path:object_id>/change/": STORE_A_RECORD,
    "customers/customer/<path:object_id>/": TO_ITS_PAGE,
    # The login lockout's records (django-axes): a superuser reads and clears them, nobody
    # writes them by hand.
    "axes/accessattempt/": SUPERUSER_ONLY,
    "axes/accessattempt/add/": NOBODY,
    "axes/accessattempt/<path:object_id>/history/": SUPERUSER_ONLY,
    "axes/accessattempt/<path:object_id>/delete/": SUPERUSER_ONLY,
    "axes/accessattempt/<path:object_id>/change/": SUPERUSER_ONLY,
    "axes/accessattempt/<path:object_id>/": TO_ITS_PAGE,
    "axes/accesslog/": SUPERUSER_ONLY,
    "axes/accesslog/add/": NOBODY,
    "axes/accesslog/<path:object_id>/history/": SUPERUSER_ONLY,
    "axes/accesslog/<path:object_id>/delete/": SUPERUSER_ONLY,
    "axes/accesslog/<path:object_id>/change/": SUPERUSER_ONLY,
    "axes/accesslog/<path:object_id>/": TO_ITS_PAGE,
    "axes/accessfailurelog/": SUPERUSER_ONLY,
    "axes/accessfailurelog/add/": NOBODY,
    "axes/accessfailurelog/<path:object_id>/history/": SUPERUSER_ONLY,
    "axes/accessfailurelog/<path:object_id>/delete/": SUPERUSER_ONLY,
    "axes/accessfailurelog/<path:object_id>/change/": SUPERUSER_ONLY,
    "axes/accessfailurelog/<path:object_id>/": TO_ITS_PAGE,
    "app_list": EVERY_STAFF,
    "auth.group:delete_selected": SUPERUSER_ONLY,
    "auth.user:delete_selected": SUPERUSER_ONLY,
    "common.apitoken:delete_selected": SUPERUSER_ONLY,
    "common.apitoken:revoke": SUPERUSER_ONLY,
    "common.outboxevent:delete_selected": SUPERUSER_ONLY,
    "common.outboxevent:queue_again": SUPERUSER_ONLY,
    "customers.customer:delete_selected": SUPERUSER_ONLY,
    "customers.customer:enrol": EVERY_STAFF,
    "customers.customer:merge": MANAGERS,
    "customers.pointsentry:delete_selected": NOBODY,
    "fulfillment.fulfillmentorder:accept_selected": EVERY_STAFF,
    "fulfillment.fulfillmentorder:delete_selected": NOBODY,
    "fulfillment.fulfillmentorder:print_pick_list": EVERY_STAFF,
    "fulfillment.fulfillmentorder:resend_code": EVERY_STAFF,
    "inventory.countrequest:delete_selected": NOBODY,
    "inventory.reservation:delete_selected": NOBODY,
    "inventory.sku:delete_selected": SUPERUSER_ONLY,
    "inventory.stocklevel:delete_selected": NOBODY,
    "inventory.stockmovement:delete_selected": NOBODY,
    "inventory.transfer:decline_selected": EVERY_STAFF,
    "inventory.transfer:delete_selected": NOBODY,
    "inventory.transfer:receive_selected": EVERY_STAFF,
    "inventory.transfer:ship_selected": EVERY_STAFF,
    "orders.order:cancel_orders": EVERY_STAFF,
    "orders.order:delete_selected": NOBODY,
    "payments.dummygatewaycall:delete_selected": NOBODY,
    "payments.dummygatewayrule:delete_selected": SUPERUSER_ONLY,
    "payments.payment:delete_selected": NOBODY,
    "payments.payment:retry_failed_refunds": SUPERUSER_ONLY,
    "payments.paymenttransaction:delete_selected": NOBODY,
    "payments.paymenttransaction:retry": SUPERUSER_ONLY,
    "returns.return:delete_selected": NOBODY,
    "returns.return:clear_code_tries": MANAGERS,
    "axes.accessattempt:cleanup_expired_attempts": SUPERUSER_ONLY,
    "axes.accessattempt:delete_selected": SUPERUSER_ONLY,
    "axes.accessfailurelog:delete_selected": SUPERUSER_ONLY,
    "axes.accesslog:delete_selected": SUPERUSER_ONLY,
    "stores.location:delete_selected": SUPERUSER_ONLY,
    "stores.staffmembership:delete_selected": SUPERUSER_ONLY,
}


@pytest.fixture
def world(xuhui, pudong, kunshan, tee, django_capture_on_commit_callbacks):
    """Records of store A of every registered model, and the users of every role."""
    for location in (xuhui, pudong, kunshan):
        stock.stock_receive(location=location, sku=tee, quantity=20)
    users = {
        "web": channel_user_get_or_create(channel="web"),
        "store_a": store_token_user_get_or_create(location=xuhui),
        "associate_a": store_staff(xuhui, "assoc-a"),
        "manager_a": store_staff(xuhui, "manager-a", role=Role.MANAGER),
        "associate_b": store_staff(pudong, "assoc-b"),
        "operator": store_staff(kunshan, "operator-w", role=Role.OPERATOR),
        "superuser": get_user_model().objects.create_superuser("root", "root@example.com"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([(tee, 1)], location=xuhui, key="admin-a")
        done = place_order([(tee, 1)], location=xuhui, key="admin-a-done")
    fo = FulfillmentOrder.objects.get(order=order)
    handed = FulfillmentOrder.objects.get(order=done)
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_ready):
        handed = step(fulfillment_order=handed)
    actions.fulfillment_handover(
        fulfillment_order=handed, code=pickup_code_issue(fulfillment_order=handed)
    )
    with django_capture_on_commit_callbacks(execute=True):
        ret = return_open(
            request=ReturnRequest(
                order=done,
                lines=[
                    ReturnLineRequest(line_id=done.lines.get().pk, quantity=1, reason="too small")
                ],
                location=xuhui,
            ),
            actor=users["associate_a"],
        )
    count = stock.stock_hold_not_found(location=xuhui, sku=tee, quantity=1, reference="shelf")
    transfer = stock.transfer_request(
        from_location=kunshan, to_location=xuhui, sku=tee, quantity=2, actor=users["manager_a"]
    )
    entry = points_adjust(customer=order.customer, points=10, reason="goodwill",
                          actor=users["superuser"], source="admin-table")  # fmt: skip
    payment = payment_record(
        demand=order.number, method=Payment.Method.CASH, amount=Decimal("99.00"), currency="CNY"
    )
    token_issue(user=users["web"], channel="web")
    objects = {
        "auth.user": users["associate_a"],
        "auth.group": Group.objects.filter(user=users["associate_a"]).first(),
        "common.apitoken": ApiToken.objects.first(),
        "common.outboxevent": OutboxEvent.objects.first(),
        "stores.location": xuhui,
        "stores.staffmembership": StaffMembership.objects.get(user=users["associate_a"]),
        "inventory.sku": tee,
        "inventory.stocklevel": StockLevel.objects.get(location=xuhui, sku=tee),
        "inventory.stockmovement": StockMovement.objects.filter(location=xuhui).first(),
        "inventory.countrequest": CountRequest.objects.get(pk=count.pk),
        "inventory.reservation": Reservation.objects.filter(location=xuhui).first(),
        "inventory.transfer": transfer,
        "customers.customer": order.customer,
        "customers.pointsentry": entry,
        "payments.payment": payment,
        "payments.paymenttransaction": PaymentTransaction.objects.filter(payment=payment).first(),
        "payments.dummygatewaycall": DummyGatewayCall.objects.create(
            operation="capture", key="k-1", amount=Decimal("1.00"), currency="CNY"
        ),
        "payments.dummygatewayrule": DummyGatewayRule.objects.create(behaviour="fail"),
        "orders.order": order,
        "fulfillment.fulfillmentorder": fo,
        "returns.return": ret,
        "axes.accessattempt": AccessAttempt.objects.create(
            username="associate_a", ip_address="10.0.0.9", failures_since_start=1
        ),
        "axes.accesslog": AccessLog.objects.create(username="associate_a", ip_address="10.0.0.9"),
        "axes.accessfailurelog": AccessFailureLog.objects.create(
            username="associate_a", ip_address="10.0.0.9"
        ),
    }
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return clients, objects


def _model_of(route: str, objects: dict) -> str | None:
    return next((label for label in objects if route.startswith(label.replace(".", "/") + "/")),
                None)  # fmt: skip


def _changelist_of(route: str, objects: dict) -> str:
    """The changelist a URL of one record belongs to ("" for other URLs)."""
    model = _model_of(route, objects)
    if model is None or "<" not in route:
        return ""
    return "/admin/" + model.replace(".", "/") + "/"


def _url(route: str, objects: dict) -> str:
    """The route filled in with store A's record of its model."""
    model = _model_of(route, objects)
    url = route
    if route == "app_list":
        url = "fulfillment/"
    elif route.startswith("r/"):
        order = objects["orders.order"]
        url = f"r/{ContentType.objects.get_for_model(order).pk}/{order.pk}/"
    if model is not None:
        pk = str(objects[model].pk)
        for name in ("<path:object_id>", "<int:object_id>", "<int:pk>", "<id>"):
            url = url.replace(name, pk)
        transition = "accept" if model == "fulfillment.fulfillmentorder" else "receive"
        url = url.replace("<str:transition_name>", transition)
        url = url.replace("<str:number>", objects["orders.order"].number)
    return "/admin/" + url


def _answer(response, *, changelist: str = "") -> str:
    """How `response` answered; `changelist` is where a record's URL sends a user who may
    not see the record (`ScopedNotFoundMixin`)."""
    if response.status_code == 302:
        location = response.url.split("?")[0]
        if location.startswith(reverse("admin:login")):
            return LOGIN
        if changelist and location in (reverse("admin:index"), changelist):
            return GONE
        return OK
    if response.status_code == 404:
        return GONE
    if response.status_code == 200:
        return OK
    return response.status_code


def _offered(client, label: str):
    """The actions the changelist of `label` offers through `client`, or how it refused."""
    app, model = label.split(".")
    response = client.get(reverse(f"admin:{app}_{model}_changelist"))
    if response.status_code != 200:
        return _answer(response)
    form = response.context.get("action_form")
    return set(dict(form.fields["action"].choices)) if form is not None else set()


def test_every_admin_url_and_action_has_a_row():
    known = [*admin_routes(), *admin_actions()]
    missing = [key for key in known if key not in ACCESS]
    assert missing == [], f"admin URLs and actions with no row in ACCESS: {missing}"
    assert set(ACCESS) - set(known) == set(), "rows of URLs or actions the admin no longer has"


def test_each_user_gets_the_admin_access_of_the_table(world):
    clients, objects = world
    got = {}
    for route in admin_routes():
        url, changelist = _url(route, objects), _changelist_of(route, objects)
        got[route] = tuple(_answer(clients[role].get(url), changelist=changelist) for role in ROLES)
    offered = {}  # (model, role) -> its changelist's actions: one page per model and role
    for key in admin_actions():
        label, name = key.split(":")
        answers = []
        for role in ROLES:
            if (label, role) not in offered:
                offered[label, role] = _offered(clients[role], label)
            shown = offered[label, role]
            answers.append(shown if not isinstance(shown, set) else OK if name in shown else 403)
        got[key] = tuple(answers)
    wrong = {key: answers for key, answers in got.items() if ACCESS.get(key) != answers}
    assert wrong == {}
