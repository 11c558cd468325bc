"""Returns on "Today at my store" (common.workspace): what was received at the user's stores
and waits for its inspection (and so for its refund)."""

from django.urls import reverse

from common.workspace import TodayRow, today_row_register
from returns.models import Return
from returns.selectors import return_list


def register() -> None:
    today_row_register(
        TodayRow(
            key="returns.to_inspect",
            label="Returns to inspect",
            count=lambda request: (
                return_list(user=request.user).filter(status=Return.Status.RECEIVED).count()
            ),
            url=lambda request: (
                reverse("admin:returns_return_changelist")
                + f"?status__exact={Return.Status.RECEIVED}"
            ),
            position=80,
            permission="returns.change_return",
            help_text="Received at your store: inspect them to restock and refund.",
        )
    )
