"""Emails are plain text in plain words: nothing HTML-escaped, times in the store's zone."""

from datetime import UTC, datetime
from types import SimpleNamespace

from fulfillment.notifications import _render


def _store(**fields):
    return SimpleNamespace(
        code="SH-JINGAN", name="Shanghai Jing'an", timezone="Asia/Shanghai",
        address_line1="1 Nanjing West Road", city="Shanghai", accept_sla_minutes=120, **fields,
    )  # fmt: skip


def _fo(kind: str):
    labels = {"pickup": "Pick up in store", "ship": "Ship to address"}
    return SimpleNamespace(
        pk=7, kind=kind, get_kind_display=lambda: labels[kind], accept_by=None, parking_spot=""
    )


def _order():
    return SimpleNamespace(number="OM123", customer=SimpleNamespace(name="O'Brien"))


def test_a_plain_text_email_keeps_apostrophes():
    subject, body = _render(
        "store_new", {"order": _order(), "location": _store(), "fulfillment_order": _fo("ship"),
                      "lines": []},
    )  # fmt: skip

    assert "Jing'an" in body
    assert "&#x27;" not in subject + body


def test_a_new_pickup_email_does_not_say_it_goes_elsewhere():
    _, pickup = _render(
        "store_new", {"order": _order(), "location": _store(), "fulfillment_order": _fo("pickup"),
                      "lines": []},
    )  # fmt: skip
    _, ship = _render(
        "store_new", {"order": _order(), "location": _store(), "fulfillment_order": _fo("ship"),
                      "lines": []},
    )  # fmt: skip

    assert "another location" not in pickup
    assert "the customer chose this store" in pickup
    assert "or it goes to another location" in ship


def test_the_ready_email_gives_the_deadline_in_the_stores_time_zone():
    _, body = _render(
        "ready",
        {"order": _order(), "location": _store(), "code": "K7P2QX", "curbside": False,
         "deadline": datetime(2026, 12, 2, 14, 0, tzinfo=UTC), "again": False},
    )  # fmt: skip

    assert "until 2026-12-02 22:00" in body  # 14:00 UTC is 22:00 in Shanghai
    assert "Hello O'Brien" in body
