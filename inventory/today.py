"""Standalone transfers on "Today at my store" (common.workspace): requests this location
is asked to ship, and transfers on their way to it."""

from django.urls import reverse

from common.workspace import TodayRow, today_row_register
from inventory import selectors
from inventory.models import Transfer


def register() -> None:
    rows = [
        ("outgoing", Transfer.Status.REQUESTED, "Stock requests to ship", 75,
         "Other locations asked you for stock."),
        ("incoming", Transfer.Status.IN_TRANSIT, "Stock transfers to receive", 76,
         "Stock on its way to you; receive it when it arrives."),
    ]  # fmt: skip
    for direction, status, label, position, help_text in rows:
        today_row_register(
            TodayRow(
                key=f"inventory.transfers_{direction}",
                label=label,
                count=lambda request, d=direction, s=status: (
                    selectors.transfer_list(user=request.user, direction=d)
                    .filter(status=s, requested_by__isnull=False)
                    .count()
                ),
                url=lambda request, s=status: (
                    reverse("admin:inventory_transfer_changelist") + f"?status__exact={s}"
                ),
                position=position,
                permission="inventory.view_transfer",
                help_text=help_text,
            )
        )
