"""The base of the `verify_*` commands: each lists the breaches of some invariants."""

import sys

from django.core.management.base import BaseCommand


class BreachCommand(BaseCommand):
    """Writes every breach `breaches()` finds to stderr and exits 1 when there is any;
    otherwise writes `holds` to stdout. `breach` names one breach in the count."""

    breach = "invariant"
    holds = "The invariants hold."

    def breaches(self) -> list[str]:
        raise NotImplementedError

    def handle(self, *args, **options):
        breaches = self.breaches()
        for breach in breaches:
            self.stderr.write(breach)
        if breaches:
            self.stderr.write(self.style.ERROR(f"{len(breaches)} {self.breach} breach(es)."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(self.holds))
