from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.models import ApiToken, Channel
from common.tokens import channel_user_get_or_create, token_issue
from stores.selectors import location_ids_for_user, locations_by_code
from stores.services import store_token_user_get_or_create


class Command(BaseCommand):
    help = (
        "Print a fresh API token for USERNAME. With --channel the token acts for that sales "
        "channel, and USERNAME (default channel-<name>) is created as its service user. A "
        "store token acts for one store: --channel store --location CODE."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument("--channel", choices=ApiToken.Channel.values)
        parser.add_argument(
            "--location", help="The store a --channel store token acts for (its code)."
        )

    def handle(self, *args, username=None, channel=None, location=None, **options):
        if location and channel != Channel.STORE:
            raise CommandError("--location names the store of a --channel store token.")
        users = get_user_model().objects
        if channel == Channel.STORE and not username:
            if not location:
                raise CommandError("A store token acts for one store: give --location CODE.")
            store = locations_by_code(codes=[location]).get(location)
            if store is None or store.kind != store.Kind.STORE:
                raise CommandError(f"{location!r} is not the code of a store.")
            user = store_token_user_get_or_create(location=store)
        elif username and channel:
            user, _ = users.get_or_create(username=username)
        elif username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
        elif channel:
            user = channel_user_get_or_create(channel=channel)
        else:
            raise CommandError("Give a USERNAME, or --channel web|app|store.")
        if channel == Channel.STORE and location_ids_for_user(user=user) == set():
            raise CommandError(
                f"{user.username} works at no store, so a store token would act for none: "
                "give --location CODE."
            )
        self.stdout.write(token_issue(user=user, channel=channel or ""))
