"""What a checkout may ask for, decided before it is placed: where an order can be taken and
delivered, who may place it, and where a ship order goes when it came without coordinates.

Rules only; the input serializer reports what these return as field errors.
"""

from dataclasses import replace

from common.models import Channel
from inventory.models import DeliveryMethod, store_capability
from orders.errors import CheckoutNotAllowed, CheckoutStoreInvalid, NoShippingCoordinates
from orders.selectors import address_point, token_channel
from orders.services.checkout import CheckoutRequest
from stores.models import Location
from stores.selectors import location_ids_for_user, location_list

NOT_OFFERED = {
    DeliveryMethod.PICKUP: "does not offer pickup",
    DeliveryMethod.CURBSIDE: "does not offer curbside pickup",
}


def delivery_location_problem(*, method: str, location: Location) -> str | None:
    """Why the order cannot be delivered by `method` at `location`, or None."""
    code = location.code
    if not location.is_active:
        return f"{code} is closed."
    flag = store_capability(method)
    if flag is not None and not getattr(location, flag):
        return f"{code} {NOT_OFFERED[method]}."
    if method == DeliveryMethod.CARRY_OUT and location.kind != Location.Kind.STORE:
        return f"{code} is not a store: an in-store sale is made at a till."
    return None


def order_store_problem(*, location: Location) -> str | None:
    """Why a store order cannot be taken at `location`, or None."""
    if location.kind != Location.Kind.STORE:
        return f"{location.code} is not a store."
    if not location.is_active:
        return f"{location.code} is closed."
    return None


def shipping_address_locate(*, address: dict) -> dict:
    """The address with coordinates: its own, else its postcode's or city's (no geocoder).

    NoShippingCoordinates (400, a field error like any other) when we serve neither.
    """
    if "latitude" in address:
        return address
    near = address_point(postcode=address.get("postcode", ""), city=address["city"])
    if near is None:
        raise NoShippingCoordinates(
            "The request has invalid fields.",
            errors={
                "delivery": {
                    "address": {"latitude": ["Give coordinates, or a postcode or city we serve."]}
                }
            },
        )
    return {**address, "latitude": near[0], "longitude": near[1]}


def checkout_store_for(
    *, user, auth, channel: str, method: str, location: Location | None, store: Location | None
) -> Location | None:
    """Channel clients order for their channel; store staff for a store they work at.

    `store`: the store the input named. Returns the store that took a staff member's order
    (None: as the input says). CheckoutNotAllowed (403), CheckoutStoreInvalid (400).
    """
    if user.is_superuser:
        return None
    token = token_channel(auth)
    if token and channel != token:
        raise CheckoutNotAllowed(f"This client may only place {token} orders.")
    if token and token != Channel.STORE:
        return None
    allowed = location_ids_for_user(user=user) or set()
    if token and not allowed:
        raise CheckoutNotAllowed(
            "This store token acts for no store: issue one with --channel store --location CODE."
        )
    if channel != Channel.STORE or not allowed:
        raise CheckoutNotAllowed("Staff place store orders at their own locations.")
    # A sale at the till is taken where the goods are; the input saw `store` agree.
    taken_at = location if method == DeliveryMethod.CARRY_OUT else store
    if taken_at is not None:
        if taken_at.pk not in allowed:
            raise CheckoutNotAllowed(f"{taken_at.code} is not one of your locations.")
        return taken_at
    stores = list(location_list().filter(pk__in=allowed, kind=Location.Kind.STORE))
    if not stores:
        raise CheckoutNotAllowed("Staff place store orders at a store they work at.")
    if len(stores) > 1:
        raise CheckoutStoreInvalid(
            errors={"store": ["You work at several stores: give the code of the one taking it."]}
        )
    if not stores[0].is_active:
        raise CheckoutStoreInvalid(errors={"store": [f"{stores[0].code} is closed."]})
    return stores[0]


def checkout_request_complete(
    *, request: CheckoutRequest, user, auth, store: Location | None
) -> CheckoutRequest:
    """The request as checkout places it: a ship address located, the store that took it."""
    if request.address is not None:
        request = replace(request, address=shipping_address_locate(address=request.address))
    taken_at = checkout_store_for(
        user=user,
        auth=auth,
        channel=request.channel,
        method=request.method,
        location=request.location,
        store=store,
    )
    return request if taken_at is None else replace(request, store=taken_at)
