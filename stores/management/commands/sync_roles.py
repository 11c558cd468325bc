from django.core.management.base import BaseCommand

from stores.roles import ROLE_GROUPS, roles_sync


class Command(BaseCommand):
    help = "Create or update the staff role groups and put every member of staff in theirs."

    def handle(self, *args, **options):
        roles_sync()
        if options["verbosity"]:
            self.stdout.write("Role groups up to date: " + ", ".join(ROLE_GROUPS.values()))
