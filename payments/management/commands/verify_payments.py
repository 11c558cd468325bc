import sys

from django.core.management.base import BaseCommand

from payments.selectors import payment_breaches


class Command(BaseCommand):
    help = (
        "Check the payments ledger: every payment's authorized, captured and refunded equal "
        "the sums of its succeeded transactions, within their bounds (pending captures and "
        "refunds included). Exits 1 on any breach."
    )

    def handle(self, *args, **options):
        breaches = payment_breaches()
        for breach in breaches:
            self.stderr.write(breach)
        if breaches:
            self.stderr.write(self.style.ERROR(f"{len(breaches)} payment ledger breach(es)."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("Payment ledger holds."))
