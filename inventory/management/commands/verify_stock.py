import sys

from django.core.management.base import BaseCommand

from inventory.selectors import stock_breaches


class Command(BaseCommand):
    help = (
        "Check the stock invariants: ledger sums equal stock levels, reserved equals active "
        "reservations, quantities within their constraints. Exits 1 on any breach."
    )

    def handle(self, *args, **options):
        breaches = stock_breaches()
        for breach in breaches:
            self.stderr.write(breach)
        if breaches:
            self.stderr.write(self.style.ERROR(f"{len(breaches)} stock invariant breach(es)."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("Stock invariants hold."))
