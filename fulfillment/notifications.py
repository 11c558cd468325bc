"""Emails to customers and stores, each recorded on the order's timeline.

Sent from outbox handlers after the change committed, so a failed send is retried by the
outbox and never holds up fulfillment.
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.template import Context, Engine
from django.utils import timezone

from orders.events import order_event_customer_notified, order_event_store_alerted
from orders.models import Order
from stores.models import Location, StaffMembership

# Emails are plain text: nothing is HTML-escaped (a store called Jing'an stays Jing'an).
_PLAIN_TEXT = Engine(app_dirs=True, autoescape=False)


def _render(template: str, context: dict) -> tuple[str, str]:
    """Subject and body, with times in the location's own time zone."""
    location = context.get("location")
    zone = ZoneInfo(location.timezone) if location is not None else timezone.get_current_timezone()
    with timezone.override(zone):
        text = (
            _PLAIN_TEXT.get_template(f"fulfillment/email/{template}.txt")
            .render(Context(context, autoescape=False))
            .strip()
        )
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip() + "\n"


def notify_customer(*, order: Order, template: str, context: dict, location=None) -> None:
    subject, body = _render(template, {"order": order, "location": location, **context})
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
