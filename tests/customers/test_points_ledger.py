"""The points ledger: lots spent soonest-expiring first and given back to the same lots,
replays that change nothing, reversals at the rate points were earned with, expiry, tiers,
and verify_points catching a counter that left its ledger."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction

from customers.errors import InsufficientPoints, PointsAdjustmentInvalid
from customers.models import PointsAccount, PointsEntry, PointsLot
from customers.points import (
    points_adjust,
    points_earn,
    points_expire_due,
    points_expiring_notify,
    points_hold_follow,
    points_redeem,
    points_reverse_earned,
    points_tier_refresh,
)
from customers.selectors import customer_points_summary, customer_tier, points_breaches
from tests.factories import staff_member, verify
from tests.orders.factories import CustomerFactory

pytestmark = pytest.mark.django_db

JAN, FEB, MAR = date(2026, 1, 10), date(2026, 2, 10), date(2026, 3, 10)
LATE_MARCH = date(2026, 3, 20)


@pytest.fixture
def ada():
    return CustomerFactory(email="ada@example.com")


def _earn(customer, value, source, on=None):
    return points_earn(customer=customer, source=source, value=Decimal(value), on=on)


def _lots(customer) -> list[tuple[int, int]]:
    return list(
        PointsLot.objects.filter(customer=customer)
        .order_by("expires_on")
        .values_list("points", "remaining")
    )


def _balance(customer) -> tuple[int, int]:
    account = PointsAccount.objects.get(pk=customer.pk)
    return account.balance, account.held


def test_earned_points_are_a_lot_that_expires_after_the_validity(ada, settings):
    settings.LOYALTY_POINTS_VALID_DAYS = 365

    entry = _earn(ada, "120.50", "o1/earn/1", on=JAN)

    assert (entry.points, entry.rate, entry.multiplier) == (120, Decimal("1"), Decimal("1"))
    assert entry.lot.expires_on == JAN + timedelta(days=365)
    assert _balance(ada) == (120, 0)
    assert points_breaches() == []


def test_a_replayed_earn_is_a_no_op(ada):
    first = _earn(ada, "50", "o1/earn/7")
    again = _earn(ada, "50", "o1/earn/7")

    assert again.pk == first.pk
    assert _balance(ada) == (50, 0)
    assert PointsEntry.objects.filter(source="o1/earn/7").count() == 1


def test_redeeming_takes_the_soonest_expiring_lots_first(ada):
    _earn(ada, "100", "b", on=FEB)
    _earn(ada, "100", "a", on=JAN)
    _earn(ada, "100", "c", on=MAR)

    points_redeem(customer=ada, points=150, source="payment/1", demand="o1")

    assert _lots(ada) == [(100, 0), (100, 50), (100, 100)]
    assert _balance(ada) == (150, 150)
    assert points_breaches() == []


def test_a_release_gives_back_the_same_lots(ada):
    _earn(ada, "100", "a", on=JAN)
    _earn(ada, "100", "b", on=FEB)
    _earn(ada, "100", "c", on=MAR)
    points_redeem(customer=ada, points=150, source="payment/1", demand="o1")
    points_adjust(customer=ada, points=-120, reason="goodwill undone", actor=None, source="adj1")
    assert _lots(ada) == [(100, 0), (100, 0), (100, 30)]

    points_hold_follow(redeem_source="payment/1", spent=0, released=150, restored=0, source="c1")

    # The 150 go back to January's and February's lots, not to March's.
    assert _lots(ada) == [(100, 100), (100, 50), (100, 30)]
    assert _balance(ada) == (180, 0)
    assert points_breaches() == []


def test_a_restore_after_spending_returns_the_same_lots(ada):
    _earn(ada, "100", "a", on=JAN)
    _earn(ada, "100", "b", on=FEB)
    points_redeem(customer=ada, points=120, source="payment/2", demand="o2")
    points_hold_follow(redeem_source="payment/2", spent=120, released=0, restored=0, source="s")
    _earn(ada, "100", "c", on=MAR)
    assert _balance(ada) == (180, 0)

    points_hold_follow(redeem_source="payment/2", spent=120, released=0, restored=70, source="r")

    assert _lots(ada) == [(100, 50), (100, 100), (100, 100)]
    assert _balance(ada) == (250, 0)
    kinds = list(PointsEntry.objects.filter(demand="o2").values_list("kind", flat=True))
    assert sorted(kinds) == ["redeem", "restore", "spend"]
    assert points_breaches() == []


def test_redeeming_more_than_the_balance_is_refused_and_writes_nothing(ada):
    _earn(ada, "100", "a")

    with pytest.raises(InsufficientPoints) as refused, transaction.atomic():
        # In the caller's transaction (checkout's), which the refusal rolls back.
        points_redeem(customer=ada, points=101, source="payment/3", demand="o3")

    assert refused.value.extra["balance"] == 100
    assert _balance(ada) == (100, 0)
    assert not PointsEntry.objects.filter(kind="redeem").exists()


def test_reversal_uses_the_rate_the_points_were_earned_with(ada, settings):
    settings.LOYALTY_EARN_RATE = "2"
    _earn(ada, "100", "o4/earn/1")  # 200 points at 2 a unit
    settings.LOYALTY_EARN_RATE = "5"

    entry = points_reverse_earned(
        customer=ada, source="return/1", earned_source="o4/earn/1", value=Decimal("30")
    )

    assert (entry.points, entry.rate) == (-60, Decimal("2"))
    assert _balance(ada) == (140, 0)
    again = points_reverse_earned(
        customer=ada, source="return/1", earned_source="o4/earn/1", value=Decimal("30")
    )
    assert again.pk == entry.pk
    assert _balance(ada) == (140, 0)


def test_reversal_never_takes_back_more_than_was_earned_nor_below_zero(ada):
    _earn(ada, "100", "o5/earn/1")
    points_redeem(customer=ada, points=80, source="payment/5", demand="o6")

    entry = points_reverse_earned(
        customer=ada, source="return/2", earned_source="o5/earn/1", value=Decimal("500")
    )

    assert entry.points == -20
    assert "80 already spent" in entry.reason
    assert _balance(ada) == (0, 80)
    assert points_breaches() == []


def test_expiry_takes_what_is_left_of_the_oldest_lots_and_leaves_the_rest(ada, settings):
    settings.LOYALTY_POINTS_VALID_DAYS = 30
    _earn(ada, "100", "a", on=JAN)
    _earn(ada, "100", "b", on=FEB)
    _earn(ada, "100", "c", on=MAR)
    points_redeem(customer=ada, points=40, source="payment/6", demand="o7")

    expired = points_expire_due(today=LATE_MARCH)  # January's (60 left), February's passed

    assert expired == 2
    assert _lots(ada) == [(100, 0), (100, 0), (100, 100)]
    assert _balance(ada) == (100, 40)
    assert sorted(PointsEntry.objects.filter(kind="expire").values_list("points", flat=True)) == [
        -100,
        -60,
    ]
    assert points_expire_due(today=LATE_MARCH) == 0
    assert points_breaches() == []


def test_expired_lot_given_points_back_expires_again(ada, settings):
    settings.LOYALTY_POINTS_VALID_DAYS = 30
    _earn(ada, "100", "a", on=JAN)
    points_redeem(customer=ada, points=100, source="payment/7", demand="o8")
    points_expire_due(today=MAR)  # nothing left to expire
    points_hold_follow(redeem_source="payment/7", spent=0, released=100, restored=0, source="x")

    assert points_expire_due(today=MAR) == 1

    assert _balance(ada) == (0, 0)
    assert points_breaches() == []


def test_customers_are_told_once_before_their_points_expire(
    ada, settings, django_capture_on_commit_callbacks
):
    settings.LOYALTY_POINTS_VALID_DAYS = 30
    settings.LOYALTY_EXPIRY_NOTICE_DAYS = 7
    _earn(ada, "100", "a", on=JAN)  # expires 9 February
    _earn(ada, "100", "b", on=MAR)

    with django_capture_on_commit_callbacks(execute=True):
        told = points_expiring_notify(today=date(2026, 2, 3))

    assert told == 1
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "100 points on 2026-02-09" in message.body
    assert points_expiring_notify(today=date(2026, 2, 4)) == 0


def test_adjustment_needs_a_reason_and_cannot_go_below_zero(ada, xuhui):
    manager_user = staff_member(xuhui, role="manager")
    with pytest.raises(PointsAdjustmentInvalid) as invalid:
        points_adjust(customer=ada, points=10, reason=" ", actor=manager_user, source="adj/1")
    assert "reason" in invalid.value.extra["errors"]

    added = points_adjust(
        customer=ada, points=50, reason="late delivery", actor=manager_user, source="adj/2"
    )
    with pytest.raises(InsufficientPoints):
        points_adjust(customer=ada, points=-51, reason="typo", actor=manager_user, source="adj/3")

    assert (added.actor, added.reason) == (manager_user, "late delivery")
    assert _balance(ada) == (50, 0)
    assert points_breaches() == []


def test_tier_follows_spend_up_and_down_and_multiplies_what_is_earned(ada, settings):
    settings.LOYALTY_TIERS = [("member", "0", "1"), ("gold", "1000", "1.5")]

    assert points_tier_refresh(customer=ada, spend=Decimal("1200")).tier == "gold"
    earned = _earn(ada, "100", "o9/earn/1")
    assert points_tier_refresh(customer=ada, spend=Decimal("900")).tier == "member"

    assert (earned.points, earned.multiplier) == (150, Decimal("1.5"))
    assert customer_tier(ada) == "member"


def test_summary_shows_balance_value_held_and_expiring_lots(ada, settings):
    settings.LOYALTY_POINT_VALUE = "0.01"
    settings.LOYALTY_POINTS_VALID_DAYS = 30
    _earn(ada, "500", "a", on=JAN)
    points_redeem(customer=ada, points=100, source="payment/8", demand="o10")

    summary = customer_points_summary(ada)

    assert summary == {
        "balance": 400,
        "value": "4.00",
        "held": 100,
        "pending": 0,
        "expiring": [{"points": 400, "on": "2026-02-09"}],
    }


def test_verify_points_exits_1_when_a_counter_left_its_ledger(ada):
    _earn(ada, "100", "a")
    assert verify("verify_points")[0] == 0
    with connection.cursor() as cursor:  # forged: the counter moved without an entry
        cursor.execute(
            "UPDATE customers_pointsaccount SET balance = balance + 5 WHERE customer_id = %s",
            [ada.pk],
        )

    code, _out, err = verify("verify_points")

    assert code == 1
    assert f"customer {ada.pk}: balance 105, its ledger says 100" in err
    assert "points breach(es)" in err


def test_the_beat_runs_expiry_and_notices(ada, settings):
    from customers.tasks import expire_points, notify_expiring_points

    settings.LOYALTY_POINTS_VALID_DAYS = 1
    _earn(ada, "10", "a", on=date(2020, 1, 1))

    assert expire_points.apply().get() == 1
    assert notify_expiring_points.apply().get() == 0
    assert {"expire-points", "notify-expiring-points"} <= set(settings.CELERY_BEAT_SCHEDULE)
    assert _balance(ada) == (0, 0)


def test_a_phone_only_customer_is_told_by_sms(settings, django_capture_on_commit_callbacks):
    from common import notifications

    settings.SMS_BACKEND = "common.notifications.LocmemSmsBackend"
    settings.LOYALTY_POINTS_VALID_DAYS = 30
    notifications.sms_outbox.clear()
    bo = CustomerFactory(email=None, phone="+8613800138000")
    _earn(bo, "100", "a", on=JAN)

    with django_capture_on_commit_callbacks(execute=True):
        points_expiring_notify(today=date(2026, 2, 3))

    [sms] = notifications.sms_outbox
    assert sms.to == "+8613800138000"
    assert sms.body.startswith("100 of your points expire from 2026-02-09")


def test_a_merge_moves_the_points_to_the_survivor(ada, xuhui):
    from customers.services import customer_merge

    other = CustomerFactory(email=None, phone="+8613800138000")
    _earn(ada, "100", "a", on=JAN)
    _earn(other, "40", "b", on=FEB)
    points_redeem(customer=other, points=10, source="payment/9", demand="o11")

    customer_merge(survivor=ada, merged=other, actor=None)

    assert _balance(ada) == (130, 10)
    assert _lots(ada) == [(100, 100), (40, 30)]
    assert not PointsEntry.objects.filter(customer=other).exists()
    points_hold_follow(redeem_source="payment/9", spent=0, released=10, restored=0, source="m")
    assert _balance(ada) == (140, 0)
    assert points_breaches() == []
