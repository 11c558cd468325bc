"""Reads of orders, scoped to what the caller may see.

A channel's API client sees its channel's orders and the whole cross-channel history of
the customers who ordered through it (web, app and store orders together). Staff list
orders that touch their locations, or a named customer's whole history, and open any
order by number (a store serves any customer). Superusers see everything.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from customers.models import Customer
from inventory.models import Reservation
from orders.models import Order, OrderEvent
from stores.selectors import location_ids_for_user, location_list


def token_channel(auth) -> str:
    return getattr(auth, "channel", "") or ""


def address_point(*, postcode: str, city: str) -> tuple[float, float] | None:
    """Without a geocoder: a location in the same postcode, else the centre of the city's."""
    same = location_list().filter(postcode=postcode).first() if postcode else None
    if same:
        return same.latitude, same.longitude
    in_city = list(location_list().filter(city__iexact=city).values_list("latitude", "longitude"))
    if not in_city:
        return None
    return (sum(p[0] for p in in_city) / len(in_city), sum(p[1] for p in in_city) / len(in_city))


def orders_touching(*, location_ids: set[int]) -> Q:
    """Orders placed or picked up at these locations, or with stock held or taken there.

    A released reservation does not count: the location gave the units back (a rejection
    that re-routed them elsewhere, a cancel), so its staff have nothing left to do there.
    """
    reserved_there = Reservation.objects.filter(
        demand=OuterRef("number"),
        location_id__in=location_ids,
        status__in=[Reservation.Status.ACTIVE, Reservation.Status.CONSUMED],
    )
    return (
        Q(pickup_location_id__in=location_ids)
        | Q(store_id__in=location_ids)
        | Q(Exists(reserved_there))
    )


def _channel_visible(channel: str) -> Q:
    """Orders of the channel, and every order of the channel's own customers."""
    ordered_here = Order.objects.filter(customer_id=OuterRef("customer_id"), channel=channel)
    return Q(channel=channel) | Q(Exists(ordered_here))


def order_list(*, user, auth=None, customer: Customer | None = None) -> QuerySet[Order]:
    qs = Order.objects.select_related("customer", "pickup_location").order_by("-created_at")
    if customer is not None:
        # With the records merged into it: a checkout that found one of them just before
        # the merge committed placed its order there.
        qs = qs.filter(Q(customer=customer) | Q(customer__merged_into=customer))
    if user.is_superuser:
        return qs
    channel = token_channel(auth)
    if channel:
        return qs.filter(_channel_visible(channel))
    allowed = location_ids_for_user(user=user)
    if not allowed:
        return qs.none()
    return qs if customer is not None else qs.filter(orders_touching(location_ids=allowed))


def order_get(*, number: str, user, auth=None) -> Order:
    """The order if the caller may see it; Order.DoesNotExist otherwise (a 404, not a 403).

    Staff may open any order by its number: a customer can bring any order to any store.
    """
    qs = Order.objects.select_related("customer", "pickup_location", "store")
    if user.is_superuser:
        return qs.get(number=number)
    channel = token_channel(auth)
    if channel:
        return qs.filter(_channel_visible(channel)).get(number=number)
    if not location_ids_for_user(user=user):
        raise Order.DoesNotExist
    return qs.get(number=number)


def order_timeline(*, order: Order) -> QuerySet[OrderEvent]:
    return order.events.select_related("actor", "location").order_by("created_at", "pk")


def order_can_change(*, order: Order, user, auth=None) -> bool:
    """Cancelling is for the order's own channel, or staff of a location it touches."""
    if user.is_superuser:
        return True
    channel = token_channel(auth)
    if channel:
        return order.channel == channel
    allowed = location_ids_for_user(user=user)
    if not allowed:
        return False
    return Order.objects.filter(pk=order.pk).filter(orders_touching(location_ids=allowed)).exists()
