"""The return code a customer shows at the counter is checked against that return; wrong
codes are counted on it and on its order's timeline, and too many lock that return's code
for a while (429) or until a manager clears the tries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from returns.models import Return
from returns.services.codes import return_code_unlock
from stores.models import StaffMembership
from tests.admin.helpers import staff_in_admin
from tests.factories import staff_client, timeline
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    card,
    line_of,
    open_return,
    ship_all,
    ship_delivery,
    web_checkout,
)

pytestmark = pytest.mark.django_db(transaction=True)  # orders are released after commit


@pytest.fixture
def online_return(web, kunshan, tee):
    """A return opened online (requested), as the customer brings it to a store: its RMA, code."""

    def make() -> dict:
        stock_put(location=kunshan, sku=tee, on_hand=5)
        order = web_checkout(web, [(tee, 1)], ship_delivery(), payments=card("114.00"))
        ship_all(order)
        response = open_return(web, order, [(line_of(order, tee), 1)])
        assert response.status_code == 201, response.content
        return response.json()

    return make


def _receive(client, ret: dict, code: str, location: str = "SH-PUDONG"):
    return client.post(
        f"/api/v1/returns/{ret['rma']}/receive", {"location": location, "code": code},
        format="json",
    )  # fmt: skip


def _wrong(code: str) -> str:
    return "X" + code[1:] if code[0] != "X" else "Y" + code[1:]


def _refused_events(ret: dict) -> list:
    order = Return.objects.get(rma=ret["rma"]).order
    return list(order.events.filter(kind="return_code_refused").order_by("pk"))


def test_the_customers_code_receives_the_return_in_any_case(online_return, at_pudong):
    ret = online_return()

    response = _receive(at_pudong, ret, f" {ret['code'].lower()} ")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "received"


def test_a_wrong_code_is_refused_with_the_tries_left_and_is_on_the_timeline(
    online_return, at_pudong
):
    ret = online_return()

    response = _receive(at_pudong, ret, _wrong(ret["code"]))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "return_code_invalid"
    assert body["attempts_left"] == 4
    assert "4 tries are left" in body["detail"]
    assert Return.objects.get(rma=ret["rma"]).status == "requested"
    [event] = _refused_events(ret)
    assert event.data == {"return": ret["rma"], "tries_left": 4, "locked_until": None}
    assert event.location.code == "SH-PUDONG"
    assert _wrong(ret["code"]) not in event.message, "the typed code is not kept"


def test_five_wrong_codes_lock_the_return_even_for_the_right_code(online_return, at_pudong):
    ret = online_return()

    answers = [_receive(at_pudong, ret, _wrong(ret["code"])) for _ in range(5)]
    right = _receive(at_pudong, ret, ret["code"])

    assert [a.status_code for a in answers] == [409, 409, 409, 409, 429]
    assert [a.json().get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    locked = answers[4].json()
    assert locked["code"] == "return_code_locked"
    assert "15 minutes" in locked["detail"]
    assert 14 * 60 < int(answers[4]["Retry-After"]) <= 15 * 60
    assert right.status_code == 429
    assert right.json()["code"] == "return_code_locked"
    assert int(right["Retry-After"]) > 0
    assert Return.objects.get(rma=ret["rma"]).status == "requested"
    events = _refused_events(ret)
    assert [e.data["tries_left"] for e in events] == [4, 3, 2, 1, 0]
    assert events[-1].data["locked_until"] is not None
    kinds = timeline(Return.objects.get(rma=ret["rma"]).order, client=at_pudong)
    assert kinds.count("return_code_refused") == 5


def test_the_lock_is_the_one_returns_own(online_return, at_pudong):
    locked, other = online_return(), online_return()
    for _ in range(5):
        _receive(at_pudong, locked, _wrong(locked["code"]))

    assert _receive(at_pudong, other, other["code"]).status_code == 200


def test_after_the_lock_time_the_right_code_works_again(online_return, at_pudong):
    ret = online_return()
    for _ in range(5):
        _receive(at_pudong, ret, _wrong(ret["code"]))

    Return.objects.filter(rma=ret["rma"]).update(
        code_locked_until=timezone.now() - timedelta(seconds=1)
    )
    again_wrong = _receive(at_pudong, ret, _wrong(ret["code"]))
    right = _receive(at_pudong, ret, ret["code"])

    assert again_wrong.json()["attempts_left"] == 4, "a fresh count after the lock"
    assert right.status_code == 200


def test_a_right_code_clears_the_wrong_tries(online_return, at_pudong, xuhui):
    ret = online_return()
    for _ in range(4):
        _receive(at_pudong, ret, _wrong(ret["code"]))
    rejected_here = at_pudong.post(
        f"/api/v1/returns/{ret['rma']}/receive", {"location": "SH-XUHUI", "code": ret["code"]},
        format="json",
    )  # fmt: skip

    _receive(at_pudong, ret, ret["code"])

    assert rejected_here.status_code == 403, "not their store: the code is not even checked"
    assert Return.objects.get(rma=ret["rma"]).code_failures == 0


def test_a_manager_clears_the_tries_in_the_admin_and_an_associate_cannot(
    online_return, at_pudong, pudong, client
):
    ret = online_return()
    for _ in range(5):
        _receive(at_pudong, ret, _wrong(ret["code"]))
    pk = Return.objects.get(rma=ret["rma"]).pk
    action = {"action": "clear_code_tries", "_selected_action": [pk]}

    staff_in_admin(client, pudong, "pudong-associate")
    client.post("/admin/returns/return/", action)
    still_locked = _receive(at_pudong, ret, ret["code"])
    staff_in_admin(client, pudong, "pudong-manager", role=StaffMembership.Role.MANAGER)
    client.post("/admin/returns/return/", action)
    received = _receive(at_pudong, ret, ret["code"])

    assert still_locked.status_code == 429
    assert received.status_code == 200, received.content
    kinds = timeline(Return.objects.get(rma=ret["rma"]).order)
    assert kinds.count("return_code_unlocked") == 1


def test_staff_may_still_receive_by_the_rma_without_a_code(online_return, at_pudong):
    ret = online_return()

    response = at_pudong.post(
        f"/api/v1/returns/{ret['rma']}/receive", {"location": "SH-PUDONG"}, format="json"
    )

    assert response.status_code == 200


def test_a_store_manager_elsewhere_may_clear_a_return_not_received_anywhere(
    online_return, at_pudong, xuhui
):
    ret = online_return()
    _receive(at_pudong, ret, _wrong(ret["code"]))
    staff_client(xuhui, role=StaffMembership.Role.MANAGER)
    user = StaffMembership.objects.get(location=xuhui, role="manager").user

    return_code_unlock(ret=Return.objects.get(rma=ret["rma"]), actor=user)

    assert Return.objects.get(rma=ret["rma"]).code_failures == 0


def test_codes_that_find_no_return_are_limited_per_client(monkeypatch, pudong, xuhui):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "return_code_miss", "3/min")
    guesser, colleague = staff_client(pudong), staff_client(xuhui)
    looked_up = [guesser.get("/api/v1/returns", {"code": f"ZZZZZ{n}"}) for n in range(2, 6)]
    refused = looked_up[-1]

    other_client = colleague.get("/api/v1/returns", {"code": "ZZZZZ9"})
    by_order = guesser.get("/api/v1/returns", {"order": "OMNONE"})

    assert [r.status_code for r in looked_up] == [200, 200, 200, 429]
    assert [r.json()["count"] for r in looked_up[:3]] == [0, 0, 0]
    assert refused.json()["code"] == "return_code_lookups_exceeded"
    assert int(refused["Retry-After"]) > 0
    assert other_client.status_code == 200, "the count is each client's own"
    assert by_order.status_code == 200, "only code lookups are refused"


def test_a_code_that_finds_its_return_is_not_counted(monkeypatch, online_return, at_pudong):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "return_code_miss", "1/min")
    ret = online_return()

    found = [at_pudong.get("/api/v1/returns", {"code": ret["code"]}) for _ in range(3)]

    assert [r.json()["count"] for r in found] == [1, 1, 1]
