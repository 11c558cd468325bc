"""Wrong admin passwords lock out that username from that address (django-axes), real POSTs
to the login form; a manager unlocks with axes' own command or its admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from stores.models import StaffMembership
from tests.admin.helpers import store_staff

PASSWORD = "right-horse-battery-7"
LOGIN = "/admin/login/?next=/admin/"


def _login(client, username: str, password: str, *, address: str = "10.1.1.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def _fail(client, username: str, times: int, *, address: str = "10.1.1.1") -> list[int]:
    return [_login(client, username, "wrong", address=address).status_code for _ in range(times)]


@pytest.fixture
def associate(xuhui):
    return store_staff(xuhui, "xuhui-associate", password=PASSWORD)


@pytest.fixture
def manager(xuhui):
    return store_staff(xuhui, "xuhui-manager", role=StaffMembership.Role.MANAGER, password=PASSWORD)


def test_five_wrong_passwords_lock_the_login_even_with_the_right_one(client, associate):
    failures = _fail(client, "xuhui-associate", 5)

    locked = _login(client, "xuhui-associate", PASSWORD)

    assert failures == [200, 200, 200, 200, 429]
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Login locked" in page
    assert "Omnistock OMS" in page, "the lockout page has the admin's look"
    assert "15 minutes" in page
    assert int(locked["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in client.session


def test_four_wrong_passwords_then_the_right_one_logs_in_and_clears_the_count(client, associate):
    _fail(client, "xuhui-associate", 4)

    assert _logged_in(_login(client, "xuhui-associate", PASSWORD))
    client.logout()
    assert _fail(client, "xuhui-associate", 4) == [200] * 4, "the success reset the count"
    assert _logged_in(_login(client, "xuhui-associate", PASSWORD))


def test_a_locked_out_pair_does_not_lock_others_out(client, associate, manager):
    _fail(client, "xuhui-associate", 5)

    colleague_same_address = _login(client, "xuhui-manager", PASSWORD)
    client.logout()
    same_user_elsewhere = _login(client, "xuhui-associate", PASSWORD, address="10.9.9.9")

    assert _logged_in(colleague_same_address)
    assert _logged_in(same_user_elsewhere), "an attacker cannot lock a member of staff out"


def test_after_the_cool_off_the_right_password_works_again(client, associate):
    _fail(client, "xuhui-associate", 5)
    assert _login(client, "xuhui-associate", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert _logged_in(_login(client, "xuhui-associate", PASSWORD))


def test_without_a_proxy_configured_a_forwarded_address_is_not_believed(client, associate):
    for n in range(5):
        client.post(
            LOGIN, {"username": "xuhui-associate", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}", REMOTE_ADDR="198.51.100.1",
        )  # fmt: skip

    answer = _login(client, "xuhui-associate", PASSWORD, address="198.51.100.1")

    assert answer.status_code == 429, "five addresses named by one client are one address"


def test_behind_the_proxy_the_address_it_forwarded_is_the_one_locked(client, associate, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # DJANGO_PROXY_COUNT
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request comes from the proxy
    for _ in range(5):
        client.post(
            LOGIN, {"username": "xuhui-associate", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="203.0.113.5", **via_proxy,
        )  # fmt: skip

    spoofed = client.post(
        LOGIN, {"username": "xuhui-associate", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5", **via_proxy,
    )  # fmt: skip
    client.logout()
    other_client = client.post(
        LOGIN, {"username": "xuhui-associate", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy,
    )  # fmt: skip

    assert spoofed.status_code == 429, "an address the client claims in front is not believed"
    assert _logged_in(other_client)


def test_a_manager_unlocks_with_the_reset_command(client, associate):
    _fail(client, "xuhui-associate", 5)

    call_command("axes_reset_username", "xuhui-associate")

    assert _logged_in(_login(client, "xuhui-associate", PASSWORD))


def test_a_superuser_unlocks_by_deleting_the_access_attempt_in_the_admin(
    client, admin_client, associate
):
    _fail(client, "xuhui-associate", 5)
    attempt = AccessAttempt.objects.get(username="xuhui-associate")

    listed = admin_client.get("/admin/axes/accessattempt/")
    admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert "xuhui-associate" in listed.content.decode()
    assert _logged_in(_login(client, "xuhui-associate", PASSWORD))
