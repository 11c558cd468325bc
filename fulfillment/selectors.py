"""Reads of fulfillment orders, always scoped to the caller's locations."""

from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from fulfillment.models import COLLECTED_AT_STORE, FulfillmentOrder
from inventory.models import DeliveryMethod
from stores.selectors import location_ids_for_user


def _for_display() -> QuerySet[FulfillmentOrder]:
    return FulfillmentOrder.objects.select_related(
        "order", "location", "destination"
    ).prefetch_related("lines__order_line")


def fulfillment_order_list(*, user) -> QuerySet[FulfillmentOrder]:
    """Fulfillment orders at the user's locations (all of them for a superuser)."""
    qs = _for_display()
    allowed = location_ids_for_user(user=user)
    if allowed is None:
        return qs
    return qs.filter(location_id__in=allowed)


def transfers_to_stores_of(*, user) -> QuerySet[FulfillmentOrder]:
    """Transfers to the user's stores (every store's for a superuser), whatever their status."""
    qs = _for_display().filter(kind=DeliveryMethod.TRANSFER)
    allowed = location_ids_for_user(user=user)
    return qs if allowed is None else qs.filter(destination_id__in=allowed)


def incoming_transfer_list(*, user) -> QuerySet[FulfillmentOrder]:
    """Transfers still on their way to the user's stores."""
    return transfers_to_stores_of(user=user).filter(status__in=FulfillmentOrder.INBOUND)


def fulfillment_order_get(*, pk: int, user, at_destination: bool = False) -> FulfillmentOrder:
    """One of the user's fulfillment orders; DoesNotExist (a 404) for another store's. With
    `at_destination`, a transfer to one of the user's stores instead (to receive it)."""
    if at_destination:
        return transfers_to_stores_of(user=user).get(pk=pk)
    return fulfillment_order_list(user=user).get(pk=pk)


def pickup_for_customer(*, pk: int, order_numbers: QuerySet | None = None) -> FulfillmentOrder:
    qs = FulfillmentOrder.objects.select_related("order", "location").filter(
        kind__in=COLLECTED_AT_STORE
    )
    if order_numbers is not None:
        qs = qs.filter(order__number__in=order_numbers)
    return qs.get(pk=pk)


def inbound_transfers(*, order, destination) -> QuerySet[FulfillmentOrder]:
    """Transfers of `order` still on their way to the pickup store `destination`, counting
    one that was rejected and is still waiting to be re-routed (it will be sent again)."""
    return FulfillmentOrder.objects.filter(
        Q(status__in=FulfillmentOrder.INBOUND)
        | Q(status=FulfillmentOrder.Status.REJECTED, completed_at__isnull=True),
        order=order,
        destination=destination,
        kind=DeliveryMethod.TRANSFER,
    )


def overdue_for_acceptance(queryset: QuerySet[FulfillmentOrder]) -> QuerySet[FulfillmentOrder]:
    """Pending past the location's SLA; a pickup whose managers were already told is not
    escalated again (it stays in the late queue)."""
    overdue = queryset.filter(status=FulfillmentOrder.Status.PENDING, accept_by__lt=timezone.now())
    return overdue.exclude(
        kind__in=COLLECTED_AT_STORE,
        escalated_at__isnull=False,
    )


def late_queue(queryset: QuerySet[FulfillmentOrder]) -> QuerySet[FulfillmentOrder]:
    """Pending past the location's SLA, or ready pickups past their deadline."""
    now = timezone.now()
    return queryset.filter(
        status=FulfillmentOrder.Status.PENDING, accept_by__lt=now
    ) | queryset.filter(status=FulfillmentOrder.Status.READY_FOR_PICKUP, pickup_deadline__lt=now)


class Queue(models.TextChoices):
    """The work queues of a location's staff."""

    TO_ACCEPT = "to_accept", "To accept"
    TO_PICK = "to_pick", "To pick"
    TO_PACK = "to_pack", "To pack"
    READY = "ready", "Ready for pickup"
    LATE = "late", "Late"
    ARRIVED = "arrived", "Curbside customer outside"
    INCOMING = "incoming", "Incoming transfers"


_QUEUE_STATUSES = {
    Queue.TO_ACCEPT: [FulfillmentOrder.Status.PENDING],
    Queue.TO_PICK: [FulfillmentOrder.Status.ACCEPTED],
    Queue.TO_PACK: [FulfillmentOrder.Status.PICKED],
    Queue.READY: [FulfillmentOrder.Status.READY_FOR_PICKUP],
}


def fulfillment_queue(
    queryset: QuerySet[FulfillmentOrder], *, queue: str, user
) -> QuerySet[FulfillmentOrder]:
    """`queryset` narrowed to one of the work queues of `user`'s locations (`incoming`: the
    transfers still on their way to the user's stores). A work queue holds only what the
    user's own locations do: a transfer on its way to their store is incoming, never theirs
    to accept or pick."""
    if queue == Queue.INCOMING:
        return queryset.filter(pk__in=incoming_transfer_list(user=user).values("pk"))
    allowed = location_ids_for_user(user=user)
    if allowed is not None:
        queryset = queryset.filter(location_id__in=allowed)
    if queue == Queue.LATE:
        return late_queue(queryset)
    if queue == Queue.ARRIVED:
        return curbside_arrivals(queryset)
    return queryset.filter(status__in=_QUEUE_STATUSES[queue])


def lines_handed_over_at(*, order_id: int) -> dict[int, object]:
    """When each order line of the order last left a location for its customer (shipped,
    or picked up): where a return window counts from. Lines of an in-store sale have none
    (the order's own `fulfilled_at` is the hand-over)."""
    rows = (
        FulfillmentOrder.objects.filter(
            order_id=order_id,
            status__in=[FulfillmentOrder.Status.SHIPPED, FulfillmentOrder.Status.PICKED_UP],
            completed_at__isnull=False,
        )
        .exclude(kind=DeliveryMethod.TRANSFER)
        .values_list("lines__order_line_id")
        .annotate(last=models.Max("completed_at"))
        .order_by()
    )
    return {line_id: last for line_id, last in rows if line_id is not None}


def pickups_of_customer(*, customer_id: int) -> QuerySet[FulfillmentOrder]:
    """A customer's pickups and curbside collections at every store, newest first."""
    return (
        FulfillmentOrder.objects.filter(
            order__customer_id=customer_id,
            kind__in=COLLECTED_AT_STORE,
        )
        .select_related("order", "location")
        .order_by("-created_at", "-pk")
    )


def curbside_arrivals(queryset: QuerySet[FulfillmentOrder]) -> QuerySet[FulfillmentOrder]:
    """Curbside customers waiting outside now, the longest waiting first."""
    return queryset.filter(
        kind=DeliveryMethod.CURBSIDE,
        status=FulfillmentOrder.Status.READY_FOR_PICKUP,
        customer_arrived_at__isnull=False,
    ).order_by("customer_arrived_at")


def open_work(queryset: QuerySet[FulfillmentOrder], *, user) -> QuerySet[FulfillmentOrder]:
    """What is still to do: the open work of the user's locations and the transfers still
    on their way to the user's stores."""
    allowed = location_ids_for_user(user=user)
    here = Q() if allowed is None else Q(location_id__in=allowed)
    arriving = Q(kind=DeliveryMethod.TRANSFER, status__in=FulfillmentOrder.INBOUND)
    if allowed is not None:
        arriving &= Q(destination_id__in=allowed)
    return queryset.filter((here & Q(status__in=FulfillmentOrder.OPEN)) | arriving)


def fulfillment_board(queryset: QuerySet[FulfillmentOrder]) -> QuerySet[FulfillmentOrder]:
    """`queryset` with what the work board shows of each row in a fixed number of queries."""
    return queryset.select_related("order__customer", "location", "destination").prefetch_related(
        "lines__order_line"
    )


def pick_list(*, user, pks) -> list[FulfillmentOrder]:
    """The user's fulfillment orders `pks` with their lines, product and SKU, to print."""
    return list(
        fulfillment_order_list(user=user)
        .filter(pk__in=pks)
        .select_related("order__customer")
        .prefetch_related("lines__order_line__sku")
        .order_by("location__code", "created_at", "pk")
    )
