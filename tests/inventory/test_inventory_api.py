import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import selectors, views
from inventory.models import ShipDay, Sku, StockLevel, StockMovement
from inventory.selectors import availability, stock_breaches
from inventory.services import (
    stock_cycle_count,
    stock_hold_damaged,
    stock_hold_not_found,
    stock_hold_receive,
)
from stores.geo import haversine_km
from tests.factories import (
    BEIJING,
    KUNSHAN,
    PEOPLES_SQUARE,
    PUDONG,
    XUHUI,
    coordinates,
    near,
    staff_client,
)
from tests.inventory.factories import SkuFactory, level_of, reserve_one, stock_put
from tests.stores.factories import (
    LocationFactory,
    StaffMembershipFactory,
    UserFactory,
    WarehouseFactory,
)

AVAILABILITY_FIELDS = {
    "location", "sku", "on_hand", "reserved", "held", "available", "distance_km", "can_ship",
    "can_pickup",
}  # fmt: skip
STOCK_FIELDS = {
    "location", "sku", "sku_name", "on_hand", "reserved", "held", "safety_stock", "available",
    "available_to_promise", "updated_at",
}  # fmt: skip


def _grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def network(db):
    return {
        "xuhui": LocationFactory(code="SH-XUHUI", **coordinates(XUHUI)),
        "pudong": LocationFactory(code="SH-PUDONG", **coordinates(PUDONG)),
        "beijing": LocationFactory(code="BJ-CHAOYANG", city="Beijing", **coordinates(BEIJING)),
        "kunshan": WarehouseFactory(code="DC-KUNSHAN", **coordinates(KUNSHAN)),
    }


@pytest.fixture
def tee(db):
    return SkuFactory(code="SKU-TEE", name="Running Tee")


@pytest.fixture
def stocked(network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=5, safety_stock=1)
    stock_put(location=network["pudong"], sku=tee, on_hand=2)
    stock_put(location=network["beijing"], sku=tee, on_hand=9)
    stock_put(location=network["kunshan"], sku=tee, on_hand=300)
    return network


@pytest.fixture
def capped(stocked):
    """A second SKU at Pudong, and Xuhui out of ship slots for today."""
    cap = SkuFactory(code="SKU-CAP")
    stock_put(location=stocked["pudong"], sku=cap, on_hand=3)
    ShipDay.objects.create(location=stocked["xuhui"], day=timezone.localdate(), orders=100)
    return cap


# --- availability --------------------------------------------------------------------------


def _availability(client, **params):
    return client.get("/api/v1/availability", params)


def test_availability_lists_every_location_holding_the_sku_with_its_numbers(
    user_client, stocked, tee
):
    response = _availability(user_client(), sku="SKU-TEE")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["location"] for row in rows} == {
        "SH-XUHUI", "SH-PUDONG", "BJ-CHAOYANG", "DC-KUNSHAN",
    }  # fmt: skip
    assert all(set(row) == AVAILABILITY_FIELDS for row in rows)
    xuhui = next(row for row in rows if row["location"] == "SH-XUHUI")
    assert xuhui == {
        "location": "SH-XUHUI",
        "sku": "SKU-TEE",
        "on_hand": 5,
        "reserved": 0,
        "held": 0,
        "available": 4,  # online never promises the safety stock
        "distance_km": None,
        "can_ship": True,
        "can_pickup": True,
    }
    kunshan = next(row for row in rows if row["location"] == "DC-KUNSHAN")
    assert kunshan["can_pickup"] is False


def test_availability_near_a_point_lists_nearest_first_with_distances(user_client, stocked):
    response = _availability(user_client(), sku="SKU-TEE", near=near(PEOPLES_SQUARE))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["location"] for row in rows] == [
        "SH-PUDONG", "SH-XUHUI", "DC-KUNSHAN", "BJ-CHAOYANG",
    ]  # fmt: skip
    assert rows[0]["distance_km"] == pytest.approx(
        haversine_km(*PEOPLES_SQUARE, PUDONG["latitude"], PUDONG["longitude"]), abs=0.01
    )


def test_availability_radius_keeps_only_nearby_locations(user_client, stocked):
    response = _availability(user_client(), sku="SKU-TEE", near=near(XUHUI), radius_km=20)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["location"] for row in rows] == ["SH-XUHUI", "SH-PUDONG"]
    assert all(row["distance_km"] <= 20 for row in rows)


def test_availability_at_one_location(user_client, stocked):
    response = _availability(user_client(), sku="SKU-TEE", location="SH-PUDONG")

    assert response.status_code == 200
    assert [(row["location"], row["on_hand"]) for row in response.json()["results"]] == [
        ("SH-PUDONG", 2)
    ]


def test_availability_of_several_skus_lists_each(user_client, stocked, tee):
    cap = SkuFactory(code="SKU-CAP")
    stock_put(location=stocked["xuhui"], sku=cap, on_hand=1)

    response = _availability(user_client(), sku=["SKU-TEE", "SKU-CAP"], location="SH-XUHUI")

    assert sorted((row["sku"], row["available"]) for row in response.json()["results"]) == [
        ("SKU-CAP", 1),
        ("SKU-TEE", 4),
    ]


def test_availability_shows_a_reservation_made_a_moment_before(user_client, stocked, tee):
    client = user_client()
    before = _availability(client, sku="SKU-TEE", location="SH-XUHUI").json()["results"][0]

    reserve_one(location=stocked["xuhui"], sku=tee, quantity=3)
    after = _availability(client, sku="SKU-TEE", location="SH-XUHUI").json()["results"][0]

    assert (before["reserved"], before["available"]) == (0, 4)
    assert (after["on_hand"], after["reserved"], after["available"]) == (5, 3, 1)


def test_availability_says_when_it_was_cut_to_the_nearest_rows(user_client, stocked, monkeypatch):
    monkeypatch.setattr(views, "AVAILABILITY_LIMIT", 2)
    client = user_client()

    cut = _availability(client, sku="SKU-TEE", near=near(PEOPLES_SQUARE)).json()
    whole = _availability(client, sku="SKU-TEE", near=near(PEOPLES_SQUARE), radius_km=5).json()

    assert [row["location"] for row in cut["results"]] == ["SH-PUDONG", "SH-XUHUI"]
    assert cut["truncated"] is True
    assert [row["location"] for row in whole["results"]] == ["SH-PUDONG"]
    assert whole["truncated"] is False


def test_availability_rows_are_cut_by_the_database_not_after_loading_them(stocked, tee):
    with CaptureQueriesContext(connection) as queries:
        rows = availability(sku_ids=[tee.pk], near=PEOPLES_SQUARE, limit=2)

    assert [row["location"] for row in rows] == ["SH-PUDONG", "SH-XUHUI"]
    [stock_query] = [q["sql"] for q in queries if '"inventory_stocklevel"' in q["sql"]]
    assert stock_query.endswith("LIMIT 2")


def test_availability_is_one_query_with_todays_ship_capacity(
    stocked, tee, django_assert_max_num_queries
):
    cap = SkuFactory(code="SKU-CAP")
    stock_put(location=stocked["pudong"], sku=cap, on_hand=3)
    # Pudong took as many ship orders today as it can: it holds the goods but cannot ship.
    ShipDay.objects.create(
        location=stocked["pudong"],
        day=timezone.localdate(),
        orders=stocked["pudong"].daily_ship_capacity,
    )

    with django_assert_max_num_queries(1):
        rows = availability(sku_ids=[tee.pk, cap.pk], near=PEOPLES_SQUARE, limit=100)

    assert [(row["location"], row["sku"]) for row in rows] == [
        ("SH-PUDONG", "SKU-CAP"),
        ("SH-PUDONG", "SKU-TEE"),
        ("SH-XUHUI", "SKU-TEE"),
        ("DC-KUNSHAN", "SKU-TEE"),
        ("BJ-CHAOYANG", "SKU-TEE"),
    ]
    ships = {row["location"]: row["can_ship"] for row in rows}
    assert ships == {
        "SH-PUDONG": False,
        "SH-XUHUI": True,
        "DC-KUNSHAN": True,
        "BJ-CHAOYANG": True,
    }


@pytest.mark.parametrize("size", [5, 60])
def test_availability_of_one_sku_is_one_query_whatever_the_number_of_locations(
    tee, size, django_assert_max_num_queries
):
    for index in range(size):
        stock_put(location=LocationFactory(code=f"SH-{index:03d}"), sku=tee, on_hand=index % 4)

    with django_assert_max_num_queries(1):
        rows = availability(sku_ids=[tee.pk], limit=1001)

    assert len(rows) == size
    assert [row["location"] for row in rows] == sorted(row["location"] for row in rows)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"near": PEOPLES_SQUARE},
        {"near": PEOPLES_SQUARE, "radius_km": 20},
        {"location": "SH-PUDONG"},
        {"near": PEOPLES_SQUARE, "limit": 2},
    ],
)
def test_portable_availability_elsewhere_than_postgresql_gives_the_same_rows(
    stocked, tee, capped, query, monkeypatch
):
    if "location" in query:
        query = {"location_id": stocked["pudong"].pk}

    native = availability(sku_ids=[tee.pk, capped.pk], **query)
    monkeypatch.setattr(selectors, "native_sql", lambda: False)

    assert availability(sku_ids=[tee.pk, capped.pk], **query) == native


@pytest.mark.parametrize(
    "query", [{}, {"near": PEOPLES_SQUARE}, {"near": PEOPLES_SQUARE, "limit": 2}]
)
def test_availability_everywhere_gives_the_same_rows_from_the_stock_or_the_locations_first(
    stocked, tee, capped, query, monkeypatch
):

    stock_first = availability(sku_ids=[tee.pk, capped.pk], **query)
    monkeypatch.setattr(selectors, "STOCK_FIRST_MAX_SKUS", 0)

    assert availability(sku_ids=[tee.pk, capped.pk], **query) == stock_first
    assert len(stock_first) == query.get("limit", 5)


@pytest.mark.parametrize(
    "query",
    [{}, {"near": PEOPLES_SQUARE}, {"near": PEOPLES_SQUARE, "radius_km": 20}, {"limit": 2}],
)
@pytest.mark.parametrize("native", [True, False])
def test_availability_api_answers_the_selectors_rows_cut_to_its_limit(
    user_client, stocked, tee, capped, query, native, monkeypatch
):
    limit = query.pop("limit", views.AVAILABILITY_LIMIT)
    monkeypatch.setattr(views, "AVAILABILITY_LIMIT", limit)
    rows = availability(sku_ids=[tee.pk, capped.pk], **query, limit=limit + 1)
    if not native:
        monkeypatch.setattr(selectors, "native_sql", lambda: False)
    params = {"near": near(query["near"])} if "near" in query else {}
    params |= {"radius_km": query["radius_km"]} if "radius_km" in query else {}

    response = _availability(user_client(), sku=["SKU-TEE", "SKU-CAP"], **params)

    assert response.status_code == 200
    assert response.json() == {"results": rows[:limit], "truncated": len(rows) > limit}


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, 1000),
        ({"near": PEOPLES_SQUARE}, 2),
        ({"near": PEOPLES_SQUARE, "radius_km": 20}, 1000),
        ({"near": (0.0, 0.0), "radius_km": 1}, 1000),  # nothing that near: no rows
        ({"location": "pudong"}, 1),
    ],
)
def test_availability_written_by_the_database_is_the_api_document_of_the_same_rows(
    stocked, tee, capped, query, shown
):
    if "location" in query:
        query = {"location_id": stocked[query["location"]].pk}
    rows = availability(sku_ids=[tee.pk, capped.pk], **query, limit=shown + 1)

    text, unknown = selectors.availability_json(
        sku_codes=["SKU-TEE", "SKU-CAP"], **query, shown=shown
    )

    assert unknown == []
    assert json.loads(text) == {"results": rows[:shown], "truncated": len(rows) > shown}
    # As compact as the API's own JSON.
    assert ", " not in text
    assert ": " not in text


@pytest.mark.parametrize("size", [5, 60])
def test_availability_api_takes_the_same_few_queries_whatever_the_number_of_locations(
    user_client, tee, size, django_assert_max_num_queries
):
    for index in range(size):
        stock_put(location=LocationFactory(code=f"SH-{index:03d}"), sku=tee, on_hand=index % 4)
    client = user_client()
    _availability(client, sku="SKU-TEE")  # the token's last use is written once a minute

    # The token, then the stock rows with their locations, the SKU codes resolved in the same
    # statement.
    with django_assert_max_num_queries(2):
        response = _availability(client, sku="SKU-TEE", near=near(PEOPLES_SQUARE))

    assert len(response.json()["results"]) == size


@pytest.mark.parametrize("codes", [["SKU-TEE"], ["SKU-TEE", "SKU-CAP"]])
@pytest.mark.parametrize("query", [{}, {"near": PEOPLES_SQUARE}])
def test_availability_written_by_the_database_names_the_codes_no_sku_has(
    stocked, tee, capped, codes, query
):
    rows = availability(sku_ids=[tee.pk, capped.pk][: len(codes)], **query)

    text, unknown = selectors.availability_json(
        sku_codes=[*codes, "SKU-NOPE", "SKU-ALSO-NOPE", "SKU-NOPE"], **query, shown=1000
    )

    assert unknown == ["SKU-ALSO-NOPE", "SKU-NOPE"]
    assert json.loads(text) == {"results": rows, "truncated": False}


def test_availability_distances_written_by_the_database_are_rounded_as_python_rounds(stocked, tee):
    points = [(31.0 + i * 0.0137, 121.0 + i * 0.0291) for i in range(40)]
    for point in points:
        rows = availability(sku_ids=[tee.pk], near=point)
        text, _ = selectors.availability_json(sku_codes=["SKU-TEE"], near=point, shown=1000)

        assert [row["distance_km"] for row in json.loads(text)["results"]] == [
            row["distance_km"] for row in rows
        ]


@pytest.mark.parametrize("nearby", [False, True], ids=["everywhere", "near-a-point"])
def test_availability_of_one_sku_is_not_planned_again_on_every_request(stocked, tee, nearby):
    # Each request near another point, as a shop's visitors are.
    for index in range(12):
        point = (31.2 + index / 100, 121.4 + index / 100) if nearby else None
        selectors.availability_json(sku_codes=["SKU-TEE"], near=point, shown=1000)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%string_agg%"],
        )
        [(generic_plans,)] = cursor.fetchall()
    assert generic_plans > 0


def test_availability_of_an_unknown_sku_is_400_naming_it(user_client, stocked):
    response = _availability(user_client(), sku=["SKU-TEE", "SKU-NOPE"])

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"]["sku"] == ["Unknown SKU: SKU-NOPE"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sku": "SKU-TEE", "near": "north"}, "near"),
        ({"sku": "SKU-TEE", "near": "95,10"}, "near"),
        ({"sku": "SKU-TEE", "radius_km": 5}, "radius_km"),
        ({"sku": "SKU-TEE", "location": "NOWHERE"}, "location"),
        ({}, "sku"),
    ],
    ids=["near-not-a-point", "near-out-of-range", "radius-without-near", "unknown-location",
         "no-sku"],
)  # fmt: skip
def test_bad_availability_queries_are_400_with_field_errors(user_client, stocked, params, field):
    response = _availability(user_client(), **params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]


def test_availability_needs_a_token(api_client, stocked):
    response = api_client.get("/api/v1/availability", {"sku": "SKU-TEE"})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- catalogue sync ------------------------------------------------------------------------


@pytest.fixture
def catalogue_client(user_client):
    return user_client(
        _grant(UserFactory(username="pim"), "inventory.add_sku", "inventory.change_sku")
    )


def _sku_row(code: str, **fields) -> dict:
    return {"code": code, "name": f"Item {code}", "price": "19.90", **fields}


def test_sku_sync_creates_then_updates_by_code(catalogue_client):
    created = catalogue_client.post(
        "/api/v1/skus",
        {"skus": [_sku_row("SKU-A", barcode="6900001"), _sku_row("SKU-B")]},
        format="json",
    )
    updated = catalogue_client.post(
        "/api/v1/skus",
        {"skus": [_sku_row("SKU-A", name="Renamed", price="25.00", active=False)]},
        format="json",
    )

    assert created.status_code == 200
    assert created.json() == {
        "results": [
            {"index": 0, "code": "SKU-A", "status": "created"},
            {"index": 1, "code": "SKU-B", "status": "created"},
        ]
    }
    assert updated.status_code == 200
    assert updated.json()["results"] == [{"index": 0, "code": "SKU-A", "status": "updated"}]
    detail = catalogue_client.get("/api/v1/skus/SKU-A").json()
    assert (detail["name"], detail["price"], detail["active"]) == ("Renamed", "25.00", False)
    assert Sku.objects.filter(code__in=["SKU-A", "SKU-B"]).count() == 2


def test_sku_sync_reports_an_invalid_row_by_index_and_applies_the_others(catalogue_client):
    response = catalogue_client.post(
        "/api/v1/skus",
        {
            "skus": [
                _sku_row("SKU-OK-1"),
                _sku_row("SKU-BAD", price="-1.00"),
                {"code": "SKU-NO-NAME", "price": "1.00"},
                _sku_row("SKU-OK-2"),
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["code"], r["status"]) for r in results] == [
        (0, "SKU-OK-1", "created"),
        (1, "SKU-BAD", "error"),
        (2, "SKU-NO-NAME", "error"),
        (3, "SKU-OK-2", "created"),
    ]
    assert "price" in results[1]["error"]
    assert "name" in results[2]["error"]
    assert set(Sku.objects.values_list("code", flat=True)) == {"SKU-OK-1", "SKU-OK-2"}


def test_sku_sync_refuses_a_price_above_a_million_whose_order_totals_could_not_be_stored(
    catalogue_client,
):
    response = catalogue_client.post(
        "/api/v1/skus",
        {
            "skus": [
                _sku_row("SKU-MAX", price="1000000.00"),
                _sku_row("SKU-OVER", price="1000000.01"),
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    top, over = response.json()["results"]
    assert top["status"] == "created"
    assert (over["status"], list(over["error"])) == ("error", ["price"])
    assert not Sku.objects.filter(code="SKU-OVER").exists()


def test_sku_sync_refuses_the_second_row_of_a_code_repeated_in_one_batch(catalogue_client):
    response = catalogue_client.post(
        "/api/v1/skus",
        {"skus": [_sku_row("SKU-DUP", name="First"), _sku_row("SKU-DUP", name="Second")]},
        format="json",
    )

    assert response.status_code == 200
    first, second = response.json()["results"]
    assert (first["status"], second["status"]) == ("created", "error")
    assert second["index"] == 1
    assert "code" in second["error"]
    assert Sku.objects.get(code="SKU-DUP").name == "First"


def test_sku_sync_where_every_row_is_invalid_is_400_with_per_row_results(catalogue_client):
    response = catalogue_client.post(
        "/api/v1/skus",
        {"skus": [_sku_row("bad code!"), _sku_row("SKU-X", currency="yuan")]},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert [(r["index"], r["status"]) for r in body["results"]] == [(0, "error"), (1, "error")]
    assert not Sku.objects.exists()


def test_sku_sync_of_more_than_1000_rows_is_refused_whole(catalogue_client):
    rows = [_sku_row(f"SKU-{n:05d}") for n in range(1001)]

    response = catalogue_client.post("/api/v1/skus", {"skus": rows}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "skus" in body["errors"]
    assert not Sku.objects.exists()


def test_sku_sync_of_exactly_1000_rows_is_accepted(catalogue_client):
    rows = [_sku_row(f"SKU-{n:05d}") for n in range(1000)]

    response = catalogue_client.post("/api/v1/skus", {"skus": rows}, format="json")

    assert response.status_code == 200
    assert Sku.objects.count() == 1000


@pytest.mark.parametrize(
    "perms", [(), ("inventory.change_sku",), ("inventory.add_sku",)], ids=["none", "change", "add"]
)
def test_sku_sync_without_both_add_and_change_sku_is_403(user_client, db, perms):
    client = user_client(_grant(UserFactory(username="pim"), *perms))

    response = client.post("/api/v1/skus", {"skus": [_sku_row("SKU-A")]}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Sku.objects.exists()


def test_sku_detail_by_code(user_client, tee):
    response = user_client().get("/api/v1/skus/SKU-TEE")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "name", "barcode", "price", "currency", "active", "updated_at"}
    assert (body["code"], body["name"], body["price"], body["active"]) == (
        "SKU-TEE",
        "Running Tee",
        "99.00",
        True,
    )


def test_unknown_sku_detail_is_404(user_client, db):
    response = user_client().get("/api/v1/skus/SKU-NOPE")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/skus/%00",
        "/api/v1/skus/SKU-%00TEE",
        "/api/v1/stock?location=%00",
        "/api/v1/stock?sku=%00",
        "/api/v1/stock?location=STORE-A&sku=%00",
        "/api/v1/availability?sku=%00",
        "/api/v1/availability?sku=SKU-TEE&location=%00",
        "/api/v1/availability?sku=SKU-TEE&near=%00",
    ],
)
def test_a_nul_byte_in_the_url_is_a_client_error_not_a_server_error(user_client, two_stores, url):
    store_a, _ = two_stores

    response = staff_client(store_a).get(url)

    assert response.status_code in (400, 404)


# --- stock levels --------------------------------------------------------------------------


@pytest.fixture
def two_stores(db, tee):
    store_a, store_b = LocationFactory(code="STORE-A"), LocationFactory(code="STORE-B")
    cap = SkuFactory(code="SKU-CAP")
    stock_put(location=store_a, sku=tee, on_hand=5, safety_stock=1)
    stock_put(location=store_a, sku=cap, on_hand=1, safety_stock=1)
    stock_put(location=store_b, sku=tee, on_hand=7)
    stock_put(location=store_b, sku=cap, on_hand=0)
    return store_a, store_b


def _stock_rows(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [(row["location"], row["sku"]) for row in response.json()["results"]]


def test_staff_see_only_the_stock_of_their_own_store(user_client, two_stores):
    store_a, _ = two_stores

    response = staff_client(store_a).get("/api/v1/stock")

    assert _stock_rows(response) == [("STORE-A", "SKU-CAP"), ("STORE-A", "SKU-TEE")]
    body = response.json()
    assert body["count"] == 2
    assert {"count", "next", "previous", "results"} <= set(body)
    tee = body["results"][1]
    assert set(tee) == STOCK_FIELDS
    assert (tee["on_hand"], tee["available"], tee["available_to_promise"]) == (5, 5, 4)


def test_staff_asking_for_another_stores_stock_get_403(user_client, two_stores):
    store_a, _ = two_stores

    response = staff_client(store_a).get("/api/v1/stock", {"location": "STORE-B"})

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_staff_may_filter_to_their_own_store(user_client, two_stores):
    store_a, store_b = two_stores
    user = StaffMembershipFactory(location=store_a).user
    StaffMembershipFactory(user=user, location=store_b)

    response = user_client(user).get("/api/v1/stock", {"location": "STORE-B"})

    assert _stock_rows(response) == [("STORE-B", "SKU-CAP"), ("STORE-B", "SKU-TEE")]


def test_superuser_sees_stock_everywhere(user_client, two_stores):
    admin = UserFactory(username="root", is_superuser=True)

    response = user_client(admin).get("/api/v1/stock")

    assert _stock_rows(response) == [
        ("STORE-A", "SKU-CAP"), ("STORE-A", "SKU-TEE"), ("STORE-B", "SKU-CAP"),
        ("STORE-B", "SKU-TEE"),
    ]  # fmt: skip


def test_a_user_without_any_store_gets_403_for_stock(user_client, two_stores):
    response = user_client().get("/api/v1/stock")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_stock_filters_low_and_in_stock(user_client, two_stores):
    admin = UserFactory(username="root", is_superuser=True)
    client = user_client(admin)

    low = client.get("/api/v1/stock", {"low": "true"})
    in_stock = client.get("/api/v1/stock", {"in_stock": "true"})
    out_of_stock = client.get("/api/v1/stock", {"in_stock": "false"})

    assert _stock_rows(low) == [("STORE-A", "SKU-CAP"), ("STORE-B", "SKU-CAP")]
    assert _stock_rows(in_stock) == [
        ("STORE-A", "SKU-CAP"), ("STORE-A", "SKU-TEE"), ("STORE-B", "SKU-TEE"),
    ]  # fmt: skip
    assert _stock_rows(out_of_stock) == [("STORE-B", "SKU-CAP")]


def test_stock_counts_reserved_units_as_unavailable(user_client, two_stores, tee):
    store_a, _ = two_stores
    reserve_one(location=store_a, sku=tee, quantity=4)

    response = staff_client(store_a).get("/api/v1/stock", {"sku": "SKU-TEE"})

    [row] = response.json()["results"]
    assert (row["on_hand"], row["reserved"], row["available"], row["available_to_promise"]) == (
        5,
        4,
        1,
        0,
    )


def test_stock_counts_held_units_as_unavailable(user_client, two_stores, tee):
    store_a, _ = two_stores
    stock_hold_damaged(location=store_a, sku=tee, quantity=5, reference="shelf check")

    response = staff_client(store_a).get("/api/v1/stock", {"sku": "SKU-TEE"})
    out_of_stock = staff_client(store_a).get("/api/v1/stock", {"in_stock": "false"})
    low = staff_client(store_a).get("/api/v1/stock", {"low": "true"})

    [row] = response.json()["results"]
    assert (row["on_hand"], row["held"], row["available"], row["available_to_promise"]) == (
        5,
        5,
        0,
        0,
    )
    assert ("STORE-A", "SKU-TEE") in _stock_rows(out_of_stock)
    assert ("STORE-A", "SKU-TEE") in _stock_rows(low)


def test_availability_never_shows_held_units_as_available(user_client, stocked, tee):
    stock_hold_receive(location=stocked["xuhui"], sku=tee, quantity=3, reference="return:1")

    response = _availability(user_client(), sku="SKU-TEE", location="SH-XUHUI")

    [row] = response.json()["results"]
    assert (row["on_hand"], row["reserved"], row["held"], row["available"]) == (8, 0, 3, 4)


# --- movements from a POS or WMS -----------------------------------------------------------


@pytest.fixture
def pos(user_client, network):
    """The till system of SH-XUHUI: staff there, allowed to record movements."""
    user = _grant(
        StaffMembershipFactory(location=network["xuhui"]).user, "inventory.add_stockmovement"
    )
    return user_client(user)


def _movement(external_id: str, **fields) -> dict:
    return {
        "source": "pos-1",
        "external_id": external_id,
        "location": "SH-XUHUI",
        "sku": "SKU-TEE",
        "reason": "receipt",
        "quantity": 10,
        **fields,
    }


def _post_movements(client, *rows):
    return client.post("/api/v1/inventory/movements", {"movements": list(rows)}, format="json")


def test_movements_are_applied_and_reported_per_row(pos, network, tee):
    response = _post_movements(
        pos,
        _movement("r-1", quantity=10),
        _movement("s-1", reason="pos_sale", quantity=3, reference="TILL-1"),
        _movement("w-1", reason="write_off", quantity=1, note="damaged"),
        _movement("a-1", reason="adjustment", quantity=-2),
    )

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"index": 0, "status": "applied"},
            {"index": 1, "status": "applied"},
            {"index": 2, "status": "applied"},
            {"index": 3, "status": "applied"},
        ]
    }
    level = level_of(network["xuhui"], tee)
    assert (level.on_hand, level.reserved) == (4, 0)
    sale = StockMovement.objects.get(source="pos-1", external_id="s-1")
    assert (sale.reason, sale.delta_on_hand, sale.reference, sale.actor) == (
        "pos_sale",
        -3,
        "TILL-1",
        pos.user,
    )
    assert stock_breaches() == []


@pytest.mark.parametrize(
    ("reason", "quantity"),
    [("receipt", 5), ("adjustment", 2), ("pos_sale", 1), ("write_off", 1)],
)
def test_an_imported_movement_keeps_its_note(pos, network, tee, reason, quantity):
    _post_movements(pos, _movement("r-0", quantity=10))

    response = _post_movements(
        pos, _movement("n-1", reason=reason, quantity=quantity, note="shelf 4, back room")
    )

    assert response.json() == {"results": [{"index": 0, "status": "applied"}]}
    movement = StockMovement.objects.get(source="pos-1", external_id="n-1")
    assert (movement.reason, movement.note) == (reason, "shelf 4, back room")


def test_an_imported_cycle_count_keeps_its_note_after_what_was_counted(pos, network, tee):
    response = _post_movements(
        pos, _movement("c-1", reason="cycle_count", quantity=7, note="aisle 3 recount")
    )

    assert response.json() == {"results": [{"index": 0, "status": "applied"}]}
    movement = StockMovement.objects.get(source="pos-1", external_id="c-1")
    assert movement.note.startswith("counted 7 at ")
    assert movement.note.endswith(": aisle 3 recount")


def test_resending_a_movement_is_reported_duplicate_and_changes_nothing(pos, network, tee):
    _post_movements(pos, _movement("r-1", quantity=10))

    response = _post_movements(pos, _movement("r-1", quantity=10), _movement("r-2", quantity=1))

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"index": 0, "status": "duplicate"},
        {"index": 1, "status": "applied"},
    ]
    assert level_of(network["xuhui"], tee).on_hand == 11
    assert StockMovement.objects.filter(source="pos-1", external_id="r-1").count() == 1


def test_the_same_external_id_from_another_source_is_a_new_movement(pos, network, tee):
    _post_movements(pos, _movement("r-1", quantity=10))

    response = _post_movements(pos, _movement("r-1", source="wms", quantity=5))

    assert response.json()["results"] == [{"index": 0, "status": "applied"}]
    assert level_of(network["xuhui"], tee).on_hand == 15


def test_a_row_repeated_within_one_batch_is_applied_once(pos, network, tee):
    response = _post_movements(pos, _movement("r-1", quantity=4), _movement("r-1", quantity=4))

    assert [r["status"] for r in response.json()["results"]] == ["applied", "duplicate"]
    assert level_of(network["xuhui"], tee).on_hand == 4


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"sku": "SKU-NOPE"}, "sku"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"reason": "fulfil"}, "reason"),
        ({"location": "NOWHERE"}, "location"),
        ({"external_id": ""}, "external_id"),
    ],
    ids=["unknown-sku", "zero-receipt", "negative-receipt", "reason-not-importable",
         "unknown-location", "no-external-id"],
)  # fmt: skip
def test_an_invalid_row_is_reported_by_index_and_the_others_are_applied(
    pos, network, tee, bad, field
):
    response = _post_movements(
        pos,
        _movement("r-1", quantity=3),
        {**_movement("r-bad"), **bad},
        _movement("r-2", quantity=4),
    )

    assert response.status_code == 200
    first, invalid, last = response.json()["results"]
    assert (first["status"], last["status"]) == ("applied", "applied")
    assert (invalid["index"], invalid["status"]) == (1, "error")
    assert field in invalid["error"]
    assert level_of(network["xuhui"], tee).on_hand == 7
    assert not StockMovement.objects.filter(external_id="r-bad").exists()


def test_a_batch_where_every_row_is_invalid_is_400_with_per_row_results(pos, network, tee):
    response = _post_movements(pos, _movement("r-1", sku="SKU-NOPE"), _movement("r-2", quantity=0))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert [(r["index"], r["status"]) for r in body["results"]] == [(0, "error"), (1, "error")]
    assert "sku" in body["results"][0]["error"]
    assert "quantity" in body["results"][1]["error"]
    assert not StockMovement.objects.filter(source="pos-1").exists()


def test_a_movement_at_a_store_the_caller_does_not_work_at_is_refused(pos, network, tee):
    response = _post_movements(
        pos, _movement("r-1", location="SH-PUDONG"), _movement("r-2", location="SH-XUHUI")
    )

    assert response.status_code == 200
    refused, applied = response.json()["results"]
    assert refused["status"] == "error"
    assert refused["error"] == {"location": ["Location SH-PUDONG is not one of yours."]}
    assert applied["status"] == "applied"
    assert not StockMovement.objects.filter(location=network["pudong"]).exists()


def test_a_sale_of_more_than_is_free_is_reported_as_insufficient_stock(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=3)
    reserve_one(location=network["xuhui"], sku=tee, quantity=2)

    response = _post_movements(
        pos,
        _movement("s-1", reason="pos_sale", quantity=2),
        _movement("s-2", reason="pos_sale", quantity=1),
    )

    assert response.status_code == 200
    short, sold = response.json()["results"]
    assert short["status"] == "error"
    assert short["error"]["code"] == "insufficient_stock"
    assert short["error"]["lines"] == [
        {"sku": "SKU-TEE", "location": "SH-XUHUI", "requested": 2, "available": 1}
    ]
    assert sold["status"] == "applied"
    level = level_of(network["xuhui"], tee)
    assert (level.on_hand, level.reserved) == (2, 2)


def test_a_receipt_that_would_overflow_on_hand_is_an_error_row_and_the_others_apply(
    pos, network, tee
):
    near_the_limit = 2**31 - 1 - 1_500_000
    kunshan = network["kunshan"]
    StockLevel.objects.create(location=network["xuhui"], sku=tee, on_hand=near_the_limit)
    StockMovement.objects.create(
        location=network["xuhui"], sku=tee, reason="receipt", delta_on_hand=near_the_limit
    )
    StaffMembershipFactory(user=pos.user, location=kunshan)

    response = _post_movements(
        pos,
        _movement("r-1", quantity=1_000_000),
        _movement("r-2", quantity=1_000_000),
        _movement("r-3", quantity=1_000_000, location="DC-KUNSHAN"),
    )

    assert response.status_code == 200
    fits, overflows, elsewhere = response.json()["results"]
    assert (fits["status"], elsewhere["status"]) == ("applied", "applied")
    assert (overflows["status"], overflows["error"]["code"]) == ("error", "invalid_movement")
    assert level_of(network["xuhui"], tee).on_hand == near_the_limit + 1_000_000
    assert level_of(kunshan, tee).on_hand == 1_000_000
    assert stock_breaches() == []


@pytest.mark.parametrize("reason", ["receipt", "adjustment", "cycle_count", "write_off"])
def test_a_movement_of_more_than_a_million_units_is_a_field_error(pos, network, tee, reason):
    response = _post_movements(pos, _movement("m-1", reason=reason, quantity=1_000_001))

    assert response.status_code == 400
    [row] = response.json()["results"]
    assert list(row["error"]) == ["quantity"]
    assert not StockMovement.objects.exists()


def test_a_pos_sale_may_use_safety_stock(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=2, safety_stock=2)

    response = _post_movements(pos, _movement("s-1", reason="pos_sale", quantity=2))

    assert response.json()["results"] == [{"index": 0, "status": "applied"}]
    assert level_of(network["xuhui"], tee).on_hand == 0


def test_a_cycle_count_taken_earlier_keeps_the_sales_recorded_since(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=20)
    counted_at = timezone.now()
    _post_movements(pos, _movement("s-1", reason="pos_sale", quantity=2))

    response = _post_movements(
        pos, _movement("c-1", reason="cycle_count", quantity=10, counted_at=counted_at.isoformat())
    )

    assert response.json()["results"] == [{"index": 0, "status": "applied"}]
    assert level_of(network["xuhui"], tee).on_hand == 8
    assert stock_breaches() == []


def test_a_cycle_count_in_the_future_is_reported_as_an_error(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=5)
    later = (timezone.now() + timedelta(hours=2)).isoformat()

    response = _post_movements(
        pos, _movement("c-1", reason="cycle_count", quantity=1, counted_at=later)
    )

    assert response.status_code == 400
    [row] = response.json()["results"]
    assert row["error"]["code"] == "invalid_movement"
    assert level_of(network["xuhui"], tee).on_hand == 5


def test_a_cycle_count_received_after_a_newer_one_is_reported_as_stale(pos, network, tee):
    _post_movements(pos, _movement("r-1", quantity=10))
    now = timezone.now()
    newer, older = (
        (now - timedelta(minutes=1)).isoformat(),
        (now - timedelta(minutes=5)).isoformat(),
    )

    response = _post_movements(
        pos,
        _movement("c-1", reason="cycle_count", quantity=8, counted_at=newer),
        _movement("c-2", reason="cycle_count", quantity=9, counted_at=older),
    )

    counted, stale = response.json()["results"]
    assert counted["status"] == "applied"
    assert (stale["status"], stale["error"]["code"]) == ("error", "stale_count")
    assert level_of(network["xuhui"], tee).on_hand == 18
    assert stock_breaches() == []


def test_a_cycle_count_older_than_a_week_is_reported_as_an_error(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=5)
    long_ago = (timezone.now() - timedelta(days=8)).isoformat()

    response = _post_movements(
        pos, _movement("c-1", reason="cycle_count", quantity=1, counted_at=long_ago)
    )

    assert response.status_code == 400
    [row] = response.json()["results"]
    assert row["error"]["code"] == "invalid_movement"
    assert level_of(network["xuhui"], tee).on_hand == 5


def test_a_cycle_count_below_reserved_is_reported_as_an_error(pos, network, tee):
    stock_put(location=network["xuhui"], sku=tee, on_hand=5)
    reserve_one(location=network["xuhui"], sku=tee, quantity=3)

    response = _post_movements(pos, _movement("c-1", reason="cycle_count", quantity=1))

    [row] = response.json()["results"]
    assert (row["status"], row["error"]["code"]) == ("error", "count_below_reserved")
    assert level_of(network["xuhui"], tee).on_hand == 5


def test_movements_without_the_add_stockmovement_permission_are_403(user_client, network, tee):
    staff = StaffMembershipFactory(location=network["xuhui"]).user

    response = _post_movements(user_client(staff), _movement("r-1"))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not StockMovement.objects.exists()


def test_an_empty_movement_batch_is_400(pos):
    response = pos.post("/api/v1/inventory/movements", {"movements": []}, format="json")

    assert response.status_code == 400
    assert "movements" in response.json()["errors"]


# --- count requests -------------------------------------------------------------------------


def test_staff_list_the_count_requests_of_their_stores_open_first(user_client, two_stores, tee):
    store_a, store_b = two_stores
    counted = stock_hold_not_found(location=store_a, sku=tee, quantity=1, reference="O-1")
    stock_cycle_count(location=store_a, sku=tee, counted=4)
    waiting = stock_hold_not_found(location=store_a, sku=tee, quantity=2, reference="O-2")
    stock_hold_not_found(location=store_b, sku=tee, quantity=1, reference="O-3")
    client = staff_client(store_a)

    listed = client.get("/api/v1/inventory/count-requests")
    open_only = client.get("/api/v1/inventory/count-requests", {"status": "open"})
    elsewhere = client.get("/api/v1/inventory/count-requests", {"location": "STORE-B"})

    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [(row["id"], row["status"]) for row in rows] == [
        (waiting.pk, "open"),
        (counted.pk, "counted"),
    ]
    assert {k: rows[0][k] for k in ("location", "sku", "quantity", "reference")} == {
        "location": "STORE-A",
        "sku": "SKU-TEE",
        "quantity": 2,
        "reference": "O-2",
    }
    assert [row["id"] for row in open_only.json()["results"]] == [waiting.pk]
    assert elsewhere.status_code == 403
    assert user_client().get("/api/v1/inventory/count-requests").status_code == 403
