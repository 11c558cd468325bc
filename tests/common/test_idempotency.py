"""The Idempotency-Key mechanism on its own, around a trivial service that writes one row."""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from common.errors import DomainError
from common.idempotency import (
    IdempotencyKey,
    IdempotencyKeyReused,
    IdempotentCall,
    idempotency_key_of,
    idempotent,
    idempotent_replay,
    request_fingerprint,
)
from common.models import IdempotencyRecord, OutboxEvent

THREAD_TIMEOUT = 60


class OutOfThings(DomainError):
    code = "out_of_things"


def make_thing(topic: str = "thing.made") -> OutboxEvent:
    return OutboxEvent.objects.create(topic=topic)


def render(thing: OutboxEvent) -> dict:
    return {"id": thing.pk, "topic": thing.topic}


@pytest.fixture
def client_user(db):
    return get_user_model().objects.create_user(username="storefront")


def key_for(user, body: dict, key: str = "k-1") -> IdempotencyKey:
    return IdempotencyKey(actor=user, key=key, fingerprint=request_fingerprint(body))


def test_the_same_body_in_another_key_order_has_the_same_fingerprint():
    assert request_fingerprint({"a": 1, "b": [2, 3]}) == request_fingerprint({"b": [2, 3], "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def _request(user, data: dict, **headers) -> Request:
    made = APIRequestFactory().post("/", data, format="json", **headers)
    request = Request(made, parsers=[JSONParser()])
    request.user = user
    return request


def test_the_key_of_a_request_is_its_client_its_header_and_its_body(client_user):
    body = {"b": 1, "a": [1, 2]}
    key = idempotency_key_of(_request(client_user, body, HTTP_IDEMPOTENCY_KEY=" k-1 "))

    fingerprint = request_fingerprint(body)
    assert key == IdempotencyKey(actor=client_user, key="k-1", fingerprint=fingerprint)


@pytest.mark.parametrize("header", [None, "", "   ", "x" * 256, "bad\x00key"])
def test_a_missing_or_unusable_key_is_a_400_naming_the_header(client_user, header):
    headers = {} if header is None else {"HTTP_IDEMPOTENCY_KEY": header}

    with pytest.raises(ValidationError) as refused:
        idempotency_key_of(_request(client_user, {}, **headers))

    assert list(refused.value.detail) == ["Idempotency-Key"]


def test_a_first_call_runs_the_service_and_records_its_rendered_answer(client_user):
    first = idempotent(key=key_for(client_user, {"n": 1}), service=make_thing, render=render)

    assert (first.status, first.replayed) == (201, False)
    assert first.body == render(first.result)
    record = IdempotencyRecord.objects.get()
    assert (record.response_status, record.response_body) == (201, first.body)


def test_the_same_key_and_body_replays_the_first_answer_without_running_again(client_user):
    key = key_for(client_user, {"n": 1})
    first = idempotent(key=key, service=make_thing, render=render, reference=lambda t: t.topic)

    again = idempotent(key=key, service=make_thing, render=render)

    assert (again.status, again.body, again.replayed, again.result) == (201, first.body, True, None)
    assert OutboxEvent.objects.count() == 1
    assert IdempotencyRecord.objects.get().reference == "thing.made"


def test_the_same_key_with_another_body_is_422_and_runs_nothing(client_user):
    idempotent(key=key_for(client_user, {"n": 1}), service=make_thing, render=render)

    with pytest.raises(IdempotencyKeyReused) as refused:
        idempotent(key=key_for(client_user, {"n": 2}), service=make_thing, render=render)

    assert (refused.value.status, refused.value.code) == (422, "idempotency_key_reused")
    assert OutboxEvent.objects.count() == 1


def test_keys_are_per_client(client_user):
    other = get_user_model().objects.create_user(username="other-storefront")
    idempotent(key=key_for(client_user, {"n": 1}), service=make_thing, render=render)

    theirs = idempotent(key=key_for(other, {"n": 2}), service=make_thing, render=render)

    assert theirs.replayed is False
    assert OutboxEvent.objects.count() == 2


def test_a_refusal_records_nothing_so_the_key_can_be_retried(client_user):
    key = key_for(client_user, {"n": 1})

    def refuse() -> OutboxEvent:
        make_thing()
        raise OutOfThings

    with pytest.raises(OutOfThings):
        idempotent(key=key, service=refuse, render=render)
    assert not IdempotencyRecord.objects.exists()
    assert not OutboxEvent.objects.exists()

    retried = idempotent(key=key, service=make_thing, render=render)
    assert retried.replayed is False


def test_a_recorded_answer_from_before_replays_exactly_as_stored(client_user):
    body = {"number": "OMAB23CD45", "status": "placed", "lines": [{"id": 1}]}
    key = key_for(client_user, {"n": 1}, key="k-old")
    IdempotencyRecord.objects.create(
        user=client_user, key="k-old", request_hash=key.fingerprint,
        response_status=201, response_body=body,
    )  # fmt: skip

    replayed = idempotent_replay(key=key)

    assert (replayed.status, replayed.body, replayed.replayed) == (201, body, True)


def test_a_service_that_records_before_its_last_step_gives_that_answer(client_user):
    def service(call: IdempotentCall) -> OutboxEvent:
        with call.transaction():
            thing = make_thing()
            call.record(thing)
            thing.topic = "changed after recording"
            thing.save()
        return thing

    result = idempotent(
        key=key_for(client_user, {"n": 1}), service_recording=service, render=render
    )

    assert result.body == {"id": result.result.pk, "topic": "thing.made"}
    assert IdempotencyRecord.objects.get().response_body == result.body


def test_a_service_that_never_records_is_a_programming_error_and_keeps_nothing(client_user):
    def forgetful(call: IdempotentCall) -> OutboxEvent:
        with call.transaction():
            return make_thing()

    with pytest.raises(RuntimeError, match="must record"):
        idempotent(key=key_for(client_user, {"n": 1}), service_recording=forgetful, render=render)
    assert not OutboxEvent.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_exactly_one_kind_of_service_is_given(client_user):
    with pytest.raises(TypeError):
        idempotent(key=key_for(client_user, {}), render=render)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_waits_for_the_first_and_replays_it():
    user = get_user_model().objects.create_user(username="storefront")
    key = key_for(user, {"n": 1})
    first_inside, let_first_finish = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def slow_thing() -> OutboxEvent:
        thing = make_thing()
        first_inside.set()
        let_first_finish.wait(THREAD_TIMEOUT)
        return thing

    def run(name: str, service) -> None:
        try:
            results[name] = idempotent(key=key, service=service, render=render)
        except BaseException as exc:
            results[name] = exc
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first", slow_thing))
    first.start()
    assert first_inside.wait(THREAD_TIMEOUT)
    duplicate = threading.Thread(target=run, args=("duplicate", make_thing))
    duplicate.start()
    time.sleep(0.5)  # the duplicate is now blocked on the key's row
    assert "duplicate" not in results
    let_first_finish.set()
    first.join(THREAD_TIMEOUT)
    duplicate.join(THREAD_TIMEOUT)

    placed, replayed = results["first"], results["duplicate"]
    assert (placed.replayed, replayed.replayed) == (False, True)
    assert replayed.body == placed.body
    assert OutboxEvent.objects.count() == 1


def test_record_outside_the_calls_transaction_is_refused(client_user):
    call = IdempotentCall(key_for(client_user, {}), render=render, status=201)

    with pytest.raises(RuntimeError), transaction.atomic():
        call.record(make_thing())
