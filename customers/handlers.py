"""Outbox handlers of customers: messages sent after the commit that decided them."""

from django.conf import settings
from django.core.mail import send_mail

from common.models import OutboxEvent
from common.outbox import outbox_handler
from customers.models import Customer


@outbox_handler("customers.points_expiring")
def points_expiring(event: OutboxEvent) -> None:
    """Tell the customer which of their points expire soon (by email, when they have one)."""
    customer = Customer.objects.get(pk=event.payload["customer"])
    lots = event.payload["lots"]
    if not customer.email:
        return  # a phone-only customer is told by the notification backend once there is one
    lines = "\n".join(f"- {lot['points']} points on {lot['on']}" for lot in lots)
    send_mail(
        f"{sum(lot['points'] for lot in lots)} of your points expire soon",
        f"Spend them online or in any of our stores before they expire:\n{lines}\n",
        settings.DEFAULT_FROM_EMAIL,
        [customer.email],
    )
