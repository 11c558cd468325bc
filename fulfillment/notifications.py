"""Emails to customers and stores, each recorded on the order's timeline.

Sent from outbox handlers after the change committed, so a failed send is retried by the
outbox and never holds up fulfillment.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from orders.events import order_event_customer_notified, order_event_store_alerted
from orders.models import Order
from stores.models import Location, StaffMembership


def _render(template: str, context: dict) -> tuple[str, str]:
    text = render_to_string(f"fulfillment/email/{template}.txt", context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip() + "\n"


def notify_customer(*, order: Order, template: str, context: dict, location=None) -> None:
    subject, body = _render(template, {"order": order, **context})
    to = order.customer.email
    if to:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    order_event_customer_notified(
        order=order, subject=subject, template=template, email=to, location=location
    )


def notify_store(
    *,
    order: Order,
    location: Location,
    template: str,
    context: dict,
    roles: tuple[str, ...] = (),
) -> None:
    """Email the staff of `location` (only those with one of `roles`, when given)."""
    subject, body = _render(template, {"order": order, "location": location, **context})
    staff = StaffMembership.objects.filter(location=location)
    if roles:
        staff = staff.filter(role__in=roles)
    recipients = sorted(email for email in staff.values_list("user__email", flat=True) if email)
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    order_event_store_alerted(
        order=order,
        subject=subject,
        template=template,
        recipients=len(recipients),
        location=location,
    )
