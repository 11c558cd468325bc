from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from common.authentication import HashedTokenAuthentication
from common.models import ApiToken
from common.tokens import token_issue, token_revoke


def _issue(*args) -> str:
    out = StringIO()
    call_command("issue_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def _revoke(*args) -> str:
    out = StringIO()
    call_command("revoke_token", *args, stdout=out)
    return out.getvalue().strip()


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


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
def test_wrong_or_revoked_token_is_401_saying_which(api_client):
    key = _issue("--channel", "app")
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    wrong = api_client.get("/api/v1/locations")

    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    revoked = _client(key).get("/api/v1/locations")

    assert wrong.status_code == 401
    assert wrong.json()["code"] == "authentication_failed"
    assert revoked.status_code == 401
    assert revoked.json() == {
        "code": "token_revoked",
        "detail": "This token was revoked at 2026-01-01T00:00:00+00:00.",
    }


@pytest.mark.django_db
def test_a_token_issued_for_12h_works_until_then_and_is_refused_as_expired_after():
    before = timezone.now()
    key = _issue("--channel", "web", "--expires-in", "12h")
    token = ApiToken.objects.get(user__username="channel-web")

    works = _client(key).get("/api/v1/locations")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = _client(key).get("/api/v1/locations")

    assert before + timedelta(hours=12) <= token.expires_at <= timezone.now() + timedelta(hours=12)
    assert works.status_code == 200
    assert expired.status_code == 401
    assert expired.json()["code"] == "token_expired"
    assert expired.json()["detail"].startswith("This token expired at ")


@pytest.mark.django_db
@pytest.mark.parametrize(("lifetime", "delta"), [("30d", timedelta(days=30)),
                                                 ("90m", timedelta(minutes=90))])  # fmt: skip
def test_issue_token_takes_days_and_minutes(lifetime, delta):
    _issue("--channel", "web", "--expires-in", lifetime)

    expires_at = ApiToken.objects.get().expires_at
    assert abs(expires_at - (timezone.now() + delta)) < timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize("lifetime", ["soon", "0d", "12", "3w", "1.5h"])
def test_issue_token_refuses_a_lifetime_it_cannot_read(lifetime):
    with pytest.raises(CommandError, match="30d, 12h or 90m"):
        _issue("--channel", "web", "--expires-in", lifetime)

    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_a_token_without_a_lifetime_never_expires():
    _issue("--channel", "web")

    assert ApiToken.objects.get().expires_at is None


@pytest.mark.django_db
def test_revoke_token_by_prefix_stops_that_token_only():
    pos = get_user_model().objects.create_user(username="pos")
    first, second = _issue("pos"), _issue("pos")

    said = _revoke(first[:8])

    assert said == "Revoked 1 token(s)."
    assert _client(first).get("/api/v1/locations").json()["code"] == "token_revoked"
    assert _client(second).get("/api/v1/locations").status_code == 200
    assert ApiToken.objects.filter(user=pos, revoked_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_revoke_token_for_a_user_stops_all_of_their_tokens():
    keys = [_issue("--channel", "app") for _ in range(3)]
    other = _issue("--channel", "web")

    said = _revoke("--user", "channel-app")

    assert said == "Revoked 3 token(s)."
    assert [_client(key).get("/api/v1/locations").status_code for key in keys] == [401] * 3
    assert _client(other).get("/api/v1/locations").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["deadbeef"], "No token starts with"),
        (["--user", "nobody"], "No user named"),
        ([], "Give a token's PREFIX"),
    ],
)
def test_revoke_token_says_what_it_cannot_find(args, error):
    with pytest.raises(CommandError, match=error):
        _revoke(*args)


@pytest.mark.django_db
def test_expired_tokens_count_as_wrong_tokens_for_the_address(monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token_failure", "2/min")
    key = _issue("--channel", "web", "--expires-in", "1m")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    answers = [_client(key).get("/api/v1/locations").status_code for _ in range(3)]

    assert answers == [401, 401, 429]


@pytest.mark.django_db
def test_checking_a_token_and_why_it_is_refused_is_one_query(django_assert_num_queries):
    key = _issue("--channel", "web", "--expires-in", "1h")
    ApiToken.objects.update(last_used_at=timezone.now())  # no last-used write this time

    with django_assert_num_queries(1):
        user, _ = HashedTokenAuthentication().authenticate_credentials(key)
    ApiToken.objects.update(expires_at=timezone.now())
    with django_assert_num_queries(1), pytest.raises(Exception, match="expired"):
        HashedTokenAuthentication().authenticate_credentials(key)

    assert user.username == "channel-web"


@pytest.mark.django_db
def test_a_checked_token_comes_with_its_whole_user_and_row(django_assert_num_queries):
    key = _issue("--channel", "web")
    stored = ApiToken.objects.select_related("user").get()
    ApiToken.objects.update(last_used_at=stored.created_at)  # no last-used write this time
    stored.refresh_from_db()

    with django_assert_num_queries(1):
        user, token = HashedTokenAuthentication().authenticate_credentials(key)
        assert token.user is user

    assert token.get_deferred_fields() == set() == user.get_deferred_fields()
    assert [getattr(token, f.attname) for f in ApiToken._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in ApiToken._meta.concrete_fields
    ]
    assert user == stored.user
    assert user.username == "channel-web"
    assert user.is_active


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
