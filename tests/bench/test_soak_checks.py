"""What `make soak` concludes from its clients' answers, without a server: a 5xx, a
refusal outside the error shape or an unexpected answer is a breach, and the pickup code
is read from the mail as Django's file backend writes it."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

# bench/ is a folder of scripts, not a package.
sys.path.append(str(Path(settings.BASE_DIR) / "bench"))

import soak
from soak_journeys import PICKUP_CODE, Recorder, read_mail


def clean_results(recorder: Recorder) -> dict:
    return {
        "traffic": recorder.summary(10),
        "checkouts": {"ok": True},
        "outbox": {"drained": True},
        "logged_errors": [],
        "verify": {command: {"ok": True} for command in soak.VERIFY_COMMANDS},
    }


def test_a_run_with_only_expected_answers_passes_every_check():
    recorder = Recorder()
    recorder.answer("ship", "checkout", 201)

    assert all(soak.checks_of(clean_results(recorder)).values())


def test_a_5xx_is_a_breach():
    recorder = Recorder()
    recorder.answer("ship", "accept", 500)
    recorder.server_error({"journey": "ship", "step": "accept", "status": 500, "body": "boom"})

    checks = soak.checks_of(clean_results(recorder))

    assert not checks["no_5xx"]
    assert [name for name, ok in checks.items() if not ok] == ["no_5xx"]


def test_an_unexpected_answer_and_a_dirty_verify_are_breaches():
    recorder = Recorder()
    recorder.unexpected_answer("pickup", "handover", 409, {"code": "pickup_code_invalid"})
    results = clean_results(recorder)
    results["verify"]["verify_money"] = {"ok": False}

    checks = soak.checks_of(results)

    assert not checks["journeys_as_expected"]
    assert not checks["verify_money_clean"]


def test_a_run_that_never_reached_its_checks_is_a_breach():
    assert not any(soak.checks_of({}).values())


def test_the_pickup_code_is_read_from_the_mail_files(tmp_path):
    backend = get_connection(
        "django.core.mail.backends.filebased.EmailBackend", file_path=str(tmp_path)
    )
    messages = [
        EmailMessage("Order ON-1 is ready", "Your pickup code: K7P2QX\n", to=["ada@example.com"]),
        EmailMessage("Order ON-2 is ready", "Your pickup code: AB23CD\n", to=["bob@example.com"]),
    ]
    backend.send_messages(messages)

    [mail] = read_mail(tmp_path, "ada@example.com")

    assert "ON-1" in mail["subject"]
    assert PICKUP_CODE.search(mail["body"]).group(1) == "K7P2QX"
