from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from common.models import ApiToken
from common.tokens import channel_user_get_or_create, token_digest, token_issue
from inventory.demo import demo_skus, seed_skus, seed_stock
from stores.demo import (
    DEMO_PASSWORD,
    STORES,
    WAREHOUSES,
    demo_locations,
    seed_locations,
    seed_staff,
)
from stores.models import Location
from stores.roles import roles_sync


class _StepBar:
    """A bar of named steps (the fast seed's index and constraint rebuild), opened at the
    first step, which closes the load's bar `after` so each bar times its own work."""

    def __init__(self, *, after: tqdm, desc: str, disable: bool):
        self.after, self.desc, self.disable, self.bar = after, desc, disable, None

    def __call__(self, done: int, total: int, step: str) -> None:
        if self.bar is None:
            self.after.close()
            self.bar = tqdm(total=total, desc=self.desc, unit="step", disable=self.disable)
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(step)
        if done == total:
            self.bar.close()


class Command(BaseCommand):
    help = "Load the demo chain (locations, staff, admin, web-channel token) where missing."

    def add_arguments(self, parser):
        parser.add_argument("--stores", type=int, default=len(STORES))
        parser.add_argument("--warehouses", type=int, default=len(WAREHOUSES))
        parser.add_argument("--skus", type=int, default=200)
        parser.add_argument("--staff-stores", type=int, default=50,
                            help="Create staff users for this many stores.")  # fmt: skip
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database has any location (the run command's seed step: "
            "never demo data in a real chain).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(
        self, *args, stores, warehouses, skus, staff_stores, if_empty, no_progress, **options
    ):
        if if_empty and Location.objects.exists():
            if options["verbosity"]:
                self.stdout.write(
                    "Locations exist already, so the demo chain was not loaded (--if-empty).\n"
                    "For a web channel API token: python manage.py issue_token --channel web"
                )
            return
        quiet = no_progress or options["verbosity"] == 0
        with tqdm(total=stores + warehouses, desc="locations", unit="loc", disable=quiet) as bar:
            new = seed_locations(stores=stores, warehouses=warehouses, progress=bar.update)
        with tqdm(total=skus, desc="skus", unit="sku", disable=quiet) as bar:
            new_skus = seed_skus(count=skus, progress=bar.update)
        with tqdm(total=stores + warehouses, desc="stock", unit="loc", disable=quiet) as bar:
            seed_stock(
                location_codes=[
                    loc.code for loc in demo_locations(stores=stores, warehouses=warehouses)
                ],
                sku_codes=[sku.code for sku in demo_skus(skus)],
                progress=bar.update,
                rebuild_progress=_StepBar(after=bar, desc="stock indexes", disable=quiet),
            )
        created = seed_staff(stores=stores, limit=staff_stores)
        roles_sync()
        token_file = Path(settings.VAR_DIR) / "demo-web-token.txt"
        key = self._web_token(token_file)
        if options["verbosity"]:
            self.stdout.write(
                f"{new} new locations, {new_skus} new SKUs, {len(created)} new staff users.\n"
                f"Demo logins (password {DEMO_PASSWORD!r}): admin, and e.g. "
                f"sh-xuhui-manager / sh-xuhui-associate, dc-kunshan-operator.\n"
                f"Web channel API token: {key} (kept in {token_file})"
            )

    def _web_token(self, token_file: Path) -> str:
        """The key kept in `token_file` while it still works; else a new one, kept there."""
        web_user = channel_user_get_or_create(channel=ApiToken.Channel.WEB)
        key = token_file.read_text().strip() if token_file.exists() else ""
        works = (
            key
            and ApiToken.objects.filter(
                user=web_user, digest=token_digest(key), revoked_at__isnull=True
            ).exists()
        )
        if not works:
            key = token_issue(user=web_user, channel=ApiToken.Channel.WEB)
            token_file.parent.mkdir(parents=True, exist_ok=True)
            token_file.write_text(key)
        return key
