import argparse
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.models import ApiToken, Channel
from common.tokens import channel_user_get_or_create, token_issue, token_lifetime_parse
from stores.selectors import location_ids_for_user, locations_by_code
from stores.services import store_token_user_get_or_create


def _lifetime(text: str) -> timedelta:
    try:
        return token_lifetime_parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Print a fresh API token for USERNAME. With --channel the token acts for that sales "
        "channel, and USERNAME (default channel-<name>) is created as its service user. A "
        "store token acts for one store: --channel store --location CODE. It works until "
        "revoked (revoke_token), or for --expires-in 30d|12h|90m."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument("--channel", choices=ApiToken.Channel.values)
        parser.add_argument(
            "--location", help="The store a --channel store token acts for (its code)."
        )
        parser.add_argument(
            "--expires-in",
            type=_lifetime,
            help="How long the token works: 30d, 12h or 90m (default: until revoked).",
        )

    def handle(self, *args, username=None, channel=None, location=None, expires_in=None, **options):
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
        expires_at = timezone.now() + expires_in if expires_in else None
        self.stdout.write(token_issue(user=user, channel=channel or "", expires_at=expires_at))
        if expires_at:
            self.stderr.write(f"It expires at {expires_at.isoformat(timespec='seconds')}.")
