"""Messages to customers and stores, each recorded on the order's timeline.

Sent from outbox handlers after the change committed, so a failed send is retried by the
outbox and never holds up fulfillment. A customer is emailed, or texted when only a phone
is known (`common.notifications`): the email is `fulfillment/email/<template>.txt` (subject
on its first line), the SMS `fulfillment/sms/<template>.txt`. Plain text, never escaped.
"""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template import TemplateDoesNotExist
from django.utils import timezone

from common.logging import order_bind
from common.notifications import notify, render_plain
from orders.events import (
    order_event_customer_notified,
    order_event_store_alerted,
    order_events_write,
)
from orders.models import Order
from stores.models import Location, StaffMembership


def _zone_of(context: dict):
    """Times in a message are the location's own (the customer's store, the store alerted)."""
    location = context.get("location")
    return ZoneInfo(location.timezone) if location is not None else timezone.get_current_timezone()


def _render(template: str, context: dict) -> tuple[str, str]:
    """Subject and body, plain text (a store called Jing'an stays Jing'an), in local time."""
    with timezone.override(_zone_of(context)):
        text = render_plain(f"fulfillment/email/{template}.txt", context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip() + "\n"


def _render_sms(template: str, context: dict) -> str:
    try:
        with timezone.override(_zone_of(context)):
            text = render_plain(f"fulfillment/sms/{template}.txt", context)
    except TemplateDoesNotExist:
        return ""  # the email's subject is sent
    return " ".join(text.split())


def customer_reachable(order: Order) -> bool:
    """Whether a message to the order's customer reaches anyone (email or phone)."""
    return bool(order.customer.email or order.customer.phone)


def notify_customer(*, order: Order, template: str, context: dict, location=None) -> None:
    """Email the order's customer, or text them when only a phone is known."""
    order_bind(order.number)
    context = {
        "order": order, "location": location, "member_id": order.customer.member_id, **context
    }  # fmt: skip
    subject, body = _render(template, context)
    if order.customer.member_id:
        body += f"\nYour member id: {order.customer.member_id}\n"
    delivery = notify(
        email=order.customer.email,
        phone=order.customer.phone,
        subject=subject,
        body=body,
        sms_body=_render_sms(template, context),
    )
    order_event_customer_notified(
        order=order,
        subject=subject,
        template=template,
        email=delivery.to if delivery.channel == "email" else None,
        phone=delivery.to if delivery.channel == "sms" else None,
        location=location,
    )


@dataclass(frozen=True)
class StoreAlert:
    """One message to the staff of `location` about `order`."""

    order: Order
    location: Location
    template: str
    context: dict


def notify_store(
    *,
    order: Order,
    location: Location,
    template: str,
    context: dict,
    roles: tuple[str, ...] = (),
) -> None:
    """Email the staff of `location` (only those with one of `roles`, when given)."""
    notify_stores(
        alerts=[StoreAlert(order=order, location=location, template=template, context=context)],
        roles=roles,
    )


def notify_stores(*, alerts: list[StoreAlert], roles: tuple[str, ...] = ()) -> None:
    """`notify_store` of each alert, in a constant number of statements: the staff of every
    location alerted read in one query, the timeline events written in one INSERT, the
    email sent over one connection."""
    staff = StaffMembership.objects.filter(location__in={alert.location.pk for alert in alerts})
    if roles:
        staff = staff.filter(role__in=roles)
    emails: dict[int, list[str]] = {}
    for location_id, email in staff.values_list("location_id", "user__email"):
        if email:
            emails.setdefault(location_id, []).append(email)
    messages, events = [], []
    for alert in alerts:
        order, location = alert.order, alert.location
        order_bind(order.number)
        subject, body = _render(
            alert.template, {"order": order, "location": location, **alert.context}
        )
        recipients = sorted(emails.get(location.pk, ()))
        if recipients:
            messages.append((subject, body, settings.DEFAULT_FROM_EMAIL, recipients))
        events.append(
            order_event_store_alerted(
                order=order,
                subject=subject,
                template=alert.template,
                recipients=len(recipients),
                location=location,
                save=False,
            )
        )
    # The timeline first: a failed write rolls the batch back before any email went out.
    order_events_write(events)
    if messages:
        send_mass_mail(messages)
