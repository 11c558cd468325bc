import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from common.models import ApiToken


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

    assert api_client.get("/api/v1/locations").status_code == 401
