from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.models import ApiToken
from common.tokens import channel_user_get_or_create, token_issue


class Command(BaseCommand):
    help = (
        "Print a fresh API token for USERNAME. With --channel the token acts for that sales "
        "channel, and USERNAME (default channel-<name>) is created as its service user."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument("--channel", choices=ApiToken.Channel.values)

    def handle(self, *args, username=None, channel=None, **options):
        users = get_user_model().objects
        if username and channel:
            user, _ = users.get_or_create(username=username)
        elif username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
        elif channel:
            user = channel_user_get_or_create(channel=channel)
        else:
            raise CommandError("Give a USERNAME, or --channel web|app|store.")
        self.stdout.write(token_issue(user=user, channel=channel or ""))
