"""What `soak.py`'s clients need from a freshly seeded bench chain, made in process.

A token per location (a store's app token; a warehouse operator's token), the web channel's
token, the SKUs a storefront may sell and return, and one almost sold-out SKU at one pickup
store (a cycle count leaves only a few units there). Run by `soak.py` as a subprocess on
the bench database; prints one JSON object.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scarce-units", type=int, default=3, help="units left to sell")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.utils import timezone

    from common.models import Channel
    from common.tokens import channel_user_get_or_create, token_issue
    from inventory.models import Sku, StockLevel, StockMovement
    from inventory.services.imports import MovementRow, movement_import
    from stores.models import Location, StaffMembership
    from stores.services import store_token_user_get_or_create

    locations = {}
    for location in Location.objects.filter(is_active=True).order_by("pk"):
        if location.kind == Location.Kind.STORE:
            user = store_token_user_get_or_create(location=location)
            token = token_issue(user=user, channel=Channel.STORE)
        else:
            membership = (
                StaffMembership.objects.filter(location=location)
                .order_by("role", "pk")
                .select_related("user")
                .first()
            )
            if membership is None:
                continue  # nobody works there: the clients never act on its work
            token = token_issue(user=membership.user)
        locations[location.code] = {
            "token": token,
            "kind": location.kind,
            "latitude": float(location.latitude),
            "longitude": float(location.longitude),
            "postcode": location.postcode,
            "city": location.city,
            "can_pickup": location.can_pickup,
            "accepts_returns": location.accepts_returns,
        }
    skus = {
        code: str(price)
        for code, price in Sku.objects.filter(is_active=True, final_sale=False)
        .order_by("pk")
        .values_list("code", "price")
    }
    store = Location.objects.filter(code__in=locations, kind=Location.Kind.STORE, can_pickup=True)
    store = store.order_by("pk").first()
    scarce = list(skus)[-1]  # the storefront sells it like any other; see --scarce-units
    level = StockLevel.objects.get(location=store, sku__code=scarce)
    movement_import(
        row=MovementRow(
            source="soak",
            external_id="scarce",
            location=store,
            sku=Sku.objects.get(code=scarce),
            reason=StockMovement.Reason.CYCLE_COUNT,
            quantity=level.reserved + level.held + level.safety_stock + args.scarce_units,
            counted_at=timezone.now(),
        )
    )
    print(
        json.dumps(
            {
                "web": token_issue(
                    user=channel_user_get_or_create(channel=Channel.WEB), channel=Channel.WEB
                ),
                "locations": locations,
                "skus": skus,
                "scarce": {"sku": scarce, "store": store.code, "units": args.scarce_units},
            }
        )
    )


if __name__ == "__main__":
    main()
