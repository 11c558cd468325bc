import pytest

from stores.geo import haversine_km
from stores.models import Location
from tests.factories import BEIJING, KUNSHAN, PEOPLES_SQUARE, PUDONG, XUHUI, coordinates, near
from tests.stores.factories import LocationFactory, WarehouseFactory


@pytest.fixture
def network(db):
    return {
        "xuhui": LocationFactory(code="SH-XUHUI", **coordinates(XUHUI)),
        "pudong": LocationFactory(code="SH-PUDONG", **coordinates(PUDONG)),
        "beijing": LocationFactory(code="BJ-CHAOYANG", city="Beijing", **coordinates(BEIJING)),
        "kunshan": WarehouseFactory(code="DC-KUNSHAN", **coordinates(KUNSHAN)),
        "closed": LocationFactory(
            code="SH-CLOSED", latitude=31.2, longitude=121.44, is_active=False, can_ship=False
        ),
    }


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_near_orders_locations_by_distance_and_reports_it(user_client, network):
    response = user_client().get("/api/v1/locations", {"near": near(PEOPLES_SQUARE)})

    assert _codes(response) == ["SH-PUDONG", "SH-CLOSED", "SH-XUHUI", "DC-KUNSHAN", "BJ-CHAOYANG"]
    first = response.json()["results"][0]
    assert first["distance_km"] == pytest.approx(
        haversine_km(*PEOPLES_SQUARE, PUDONG["latitude"], PUDONG["longitude"]), abs=0.01
    )


def test_filters_by_kind_capability_and_activity(user_client, network):
    client = user_client()

    assert _codes(client.get("/api/v1/locations", {"kind": "warehouse"})) == ["DC-KUNSHAN"]
    assert "SH-CLOSED" not in _codes(client.get("/api/v1/locations", {"active": "true"}))
    pickup = _codes(client.get("/api/v1/locations", {"capability": "pickup", "active": "true"}))
    assert pickup == ["BJ-CHAOYANG", "SH-PUDONG", "SH-XUHUI"]
    assert _codes(
        client.get(
            "/api/v1/locations",
            {"capability": ["ship", "returns"], "city": "shanghai", "active": "true"},
        )
    ) == ["SH-PUDONG", "SH-XUHUI"]


def test_radius_keeps_only_nearby_locations(user_client, network):
    response = user_client().get("/api/v1/locations", {"near": near(XUHUI), "radius_km": 20})

    assert _codes(response) == ["SH-XUHUI", "SH-CLOSED", "SH-PUDONG"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"near": "north"}, "near"), ({"near": "95,10"}, "near"), ({"radius_km": 5}, "radius_km"),
     ({"near": "", "radius_km": 5}, "radius_km"), ({"kind": "moon"}, "kind")],
)  # fmt: skip
def test_bad_filters_are_400_with_field_errors(user_client, network, params, field):
    response = user_client().get("/api/v1/locations", params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]


def test_location_detail_by_code_and_404(user_client, network):
    client = user_client()

    assert client.get("/api/v1/locations/DC-KUNSHAN").json()["kind"] == Location.Kind.WAREHOUSE
    missing = client.get("/api/v1/locations/NOPE")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/locations/%00",
        "/api/v1/locations/SH-%00XUHUI",
        "/api/v1/locations?city=%00",
        "/api/v1/locations?kind=%00",
        "/api/v1/locations?capability=%00",
        "/api/v1/locations?near=%00",
        "/api/v1/locations?near=31.2,121.4&radius_km=%00",
    ],
)
def test_a_nul_byte_in_the_url_is_a_client_error_not_a_server_error(user_client, network, url):
    response = user_client().get(url)

    assert response.status_code in (400, 404)
