import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.utils import timezone

from common.models import ApiToken
from common.tokens import channel_user_get_or_create, token_issue, token_revoke
from stores.services import store_token_user_get_or_create


@pytest.fixture
def admin_client_logged_in(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-x-123456")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_admin_issues_a_token_shown_once_that_works_and_can_be_revoked(
    admin_client_logged_in, api_client
):
    pos = get_user_model().objects.create_user(username="pos-xuhui")

    response = admin_client_logged_in.post(
        "/admin/common/apitoken/add/", {"user": pos.pk, "channel": "store"}, follow=True
    )

    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    key = re.search(r"New API token for pos-xuhui: ([0-9a-f]{40})", shown).group(1)
    token = ApiToken.objects.get(user=pos)
    assert token.channel == "store"
    assert key not in token.digest
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/locations").status_code == 200

    admin_client_logged_in.post(
        "/admin/common/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    refused = api_client.get("/api/v1/locations")
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"


@pytest.mark.django_db
def test_the_token_list_shows_channel_store_state_and_dates(admin_client_logged_in, xuhui):
    store_user = store_token_user_get_or_create(location=xuhui)
    store_key = token_issue(user=store_user, channel="store")
    web_key = token_issue(
        user=channel_user_get_or_create(channel="web"), channel="web",
        expires_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    app_key = token_issue(user=channel_user_get_or_create(channel="app"), channel="app")
    token_revoke(tokens=ApiToken.objects.filter(prefix=app_key[:8]))

    page = admin_client_logged_in.get("/admin/common/apitoken/").content.decode()

    rows = {key: _row(page, key[:8]) for key in (store_key, web_key, app_key)}
    assert "SH-XUHUI" in rows[store_key]
    assert ">works<" in rows[store_key]
    assert ">expired<" in rows[web_key]
    assert ">revoked<" in rows[app_key]
    for header in ("Prefix", "Channel", "Store", "State", "Created at", "Expires at",
                   "Last used at", "Revoked at"):  # fmt: skip
        assert header in page


@pytest.mark.django_db
def test_the_state_filter_lists_the_expired_tokens(admin_client_logged_in):
    web = channel_user_get_or_create(channel="web")
    live = token_issue(user=web, channel="web", expires_at=timezone.now() + timedelta(days=1))
    gone = token_issue(user=web, channel="web", expires_at=timezone.now() - timedelta(days=1))

    expired = admin_client_logged_in.get("/admin/common/apitoken/?state=expired").content.decode()
    working = admin_client_logged_in.get("/admin/common/apitoken/?state=active").content.decode()

    assert gone[:8] in expired
    assert live[:8] not in expired
    assert live[:8] in working
    assert gone[:8] not in working


@pytest.mark.django_db
def test_the_admin_issues_a_token_that_expires(admin_client_logged_in, api_client):
    pos = get_user_model().objects.create_user(username="pos-expiring")
    when = timezone.localtime() + timedelta(days=2)

    response = admin_client_logged_in.post(
        "/admin/common/apitoken/add/",
        {"user": pos.pk, "channel": "store", "expires_at_0": when.strftime("%Y-%m-%d"),
         "expires_at_1": when.strftime("%H:%M:%S")},
        follow=True,
    )  # fmt: skip
    past = admin_client_logged_in.post(
        "/admin/common/apitoken/add/",
        {"user": pos.pk, "channel": "store", "expires_at_0": "2020-01-01",
         "expires_at_1": "00:00:00"},
    )  # fmt: skip

    assert response.status_code == 200
    token = ApiToken.objects.get(user=pos)
    assert abs(token.expires_at - when) < timedelta(seconds=1)
    assert "A new token must expire in the future." in past.content.decode()
    assert ApiToken.objects.filter(user=pos).count() == 1


def _row(page: str, prefix: str) -> str:
    """The list row of the token whose key starts with `prefix`."""
    start = page.index(f">{prefix}<")
    return page[page.rindex("<tr", 0, start) : page.index("</tr>", start)]
