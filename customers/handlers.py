"""Outbox handlers of customers: messages sent after the commit that decided them."""

from common.models import OutboxEvent
from common.notifications import notify
from common.outbox import outbox_handler
from customers.models import Customer


@outbox_handler("customers.points_expiring")
def points_expiring(event: OutboxEvent) -> None:
    """Tell the customer which of their points expire soon: by email, or by SMS when only
    a phone is known."""
    customer = Customer.objects.get(pk=event.payload["customer"])
    lots = event.payload["lots"]
    total = sum(lot["points"] for lot in lots)
    lines = "\n".join(f"- {lot['points']} points on {lot['on']}" for lot in lots)
    notify(
        email=customer.email,
        phone=customer.phone,
        subject=f"{total} of your points expire soon",
        body=f"Spend them online or in any of our stores before they expire:\n{lines}\n",
        sms_body=(
            f"{total} of your points expire from {lots[0]['on']}: spend them online or in store."
        ),
    )
