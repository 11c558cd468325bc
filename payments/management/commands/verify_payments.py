from common.management.breaches import BreachCommand
from payments.selectors import payment_breaches


class Command(BreachCommand):
    help = (
        "Check the payments ledger: every payment's authorized, captured and refunded equal "
        "the sums of its succeeded transactions, within their bounds (pending captures and "
        "refunds included). Exits 1 on any breach."
    )
    breach = "payment ledger"
    holds = "Payment ledger holds."

    def breaches(self) -> list[str]:
        return payment_breaches()
