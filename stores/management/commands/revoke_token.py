from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.models import ApiToken
from common.tokens import token_revoke


class Command(BaseCommand):
    help = (
        "Revoke API tokens: the one whose key starts with PREFIX (the 8 characters the admin "
        "lists), or --user USERNAME for all of that user's tokens. A revoked token is refused "
        "at once (401 token_revoked) and never works again."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix", nargs="?", help="The first 8 characters of the key.")
        parser.add_argument("--user", help="Revoke every token of this user.")

    def handle(self, *args, prefix=None, user=None, **options):
        if bool(prefix) == bool(user):
            raise CommandError("Give a token's PREFIX, or --user USERNAME (not both).")
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
            tokens = ApiToken.objects.filter(user=owner)
        else:
            tokens = ApiToken.objects.filter(prefix=prefix.strip().lower()[:8])
            live = tokens.filter(revoked_at__isnull=True).count()
            if not tokens.exists():
                raise CommandError(f"No token starts with {prefix!r}.")
            if live > 1:
                raise CommandError(
                    f"{live} tokens start with {prefix!r}: revoke them by --user, or in the admin."
                )
        revoked = token_revoke(tokens=tokens)
        self.stdout.write(f"Revoked {revoked} token(s).")
