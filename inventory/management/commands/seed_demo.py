from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from tqdm import tqdm

from common.models import ApiToken
from common.tokens import channel_user_get_or_create, token_issue
from inventory.demo import seed_skus, seed_stock
from stores.demo import DEMO_PASSWORD, STORES, WAREHOUSES, seed_locations, seed_staff

STAFF_PERMISSIONS = [
    "stores.view_location",
    "stores.view_staffmembership",
    "inventory.view_sku",
    "inventory.view_stocklevel",
    "inventory.view_stockmovement",
    "inventory.add_stockmovement",
    "inventory.view_reservation",
    "inventory.view_transfer",
    "orders.view_customer",
    "orders.view_order",
    "fulfillment.view_fulfillmentorder",
    "fulfillment.change_fulfillmentorder",
]


class Command(BaseCommand):
    help = "Load the demo chain (locations, staff, admin, web-channel token) where missing."

    def add_arguments(self, parser):
        parser.add_argument("--stores", type=int, default=len(STORES))
        parser.add_argument("--warehouses", type=int, default=len(WAREHOUSES))
        parser.add_argument("--skus", type=int, default=200)
        parser.add_argument("--staff-stores", type=int, default=50,
                            help="Create staff users for this many stores.")  # fmt: skip
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, stores, warehouses, skus, staff_stores, no_progress, **options):
        quiet = no_progress or options["verbosity"] == 0
        with tqdm(total=stores + warehouses, desc="locations", unit="loc", disable=quiet) as bar:
            new = seed_locations(stores=stores, warehouses=warehouses, progress=bar.update)
        with tqdm(total=skus, desc="skus", unit="sku", disable=quiet) as bar:
            new_skus = seed_skus(count=skus, progress=bar.update)
        with tqdm(total=stores + warehouses, desc="stock", unit="loc", disable=quiet) as bar:
            seed_stock(progress=bar.update)
        created = seed_staff(limit=staff_stores)
        self._staff_group()
        token_file = Path(settings.VAR_DIR) / "demo-web-token.txt"
        web_user = channel_user_get_or_create(channel=ApiToken.Channel.WEB)
        if not web_user.api_tokens.exists() or not token_file.exists():
            token_file.parent.mkdir(parents=True, exist_ok=True)
            token_file.write_text(token_issue(user=web_user, channel=ApiToken.Channel.WEB))
        if options["verbosity"]:
            self.stdout.write(
                f"{new} new locations, {new_skus} new SKUs, {len(created)} new staff users.\n"
                f"Demo logins (password {DEMO_PASSWORD!r}): admin, and e.g. "
                f"sh-xuhui-manager / sh-xuhui-associate.\n"
                f"Web channel API token: {token_file.read_text()} (kept in {token_file})"
            )

    def _staff_group(self) -> None:
        group, _ = Group.objects.get_or_create(name="Store staff")
        perms = []
        for label in STAFF_PERMISSIONS:
            app_label, codename = label.split(".")
            perms += Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        group.permissions.set(perms)
        from stores.models import StaffMembership

        for membership in StaffMembership.objects.select_related("user"):
            membership.user.groups.add(group)
