import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from common.models import ApiToken
from common.tokens import token_issue, token_revoke


def _issue(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_issue_token_for_a_channel_creates_its_service_user_and_a_working_token():
    key = _issue("--channel", "web")

    token = ApiToken.objects.get(user__username="channel-web")
    assert token.channel == "web"
    assert key not in token.digest  # only a digest is stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/locations").status_code == 200


@pytest.mark.django_db
def test_each_issue_gives_a_fresh_token():
    get_user_model().objects.create_user(username="pos")

    assert _issue("pos") != _issue("pos")
    assert ApiToken.objects.filter(user__username="pos").count() == 2


@pytest.mark.django_db
def test_issue_token_for_unknown_user_fails():
    with pytest.raises(CommandError, match="No user"):
        _issue("nobody")


@pytest.mark.django_db
def test_wrong_or_revoked_token_is_401(api_client):
    key = _issue("--channel", "app")
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert api_client.get("/api/v1/locations").status_code == 401

    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api_client.get("/api/v1/locations")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_token_of_a_deactivated_user_is_401_at_once(api_client):
    key = _issue("--channel", "app")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/locations").status_code == 200

    get_user_model().objects.filter(username="channel-app").update(is_active=False)
    response = api_client.get("/api/v1/locations")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.django_db
def test_anonymous_request_is_401_with_the_error_shape(api_client):
    response = api_client.get("/api/v1/locations")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_revoking_counts_only_tokens_not_yet_revoked_and_keeps_the_first_revocation_time():
    user = get_user_model().objects.create_user(username="pos-revoke")
    token_issue(user=user)
    token_issue(user=user)
    first = token_revoke(tokens=ApiToken.objects.filter(user=user))
    mine = ApiToken.objects.filter(user=user)
    revoked_at = set(mine.values_list("revoked_at", flat=True))

    again = token_revoke(tokens=ApiToken.objects.filter(user=user))

    assert (first, again) == (2, 0)
    assert set(mine.values_list("revoked_at", flat=True)) == revoked_at
