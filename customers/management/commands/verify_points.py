from common.management.breaches import BreachCommand
from customers.selectors import points_breaches


class Command(BreachCommand):
    help = (
        "Check the loyalty accounts: every balance and held counter equals its ledger, every "
        "balance what its lots have left, every lot what its allocations leave. Exits 1 on "
        "any breach."
    )

    breach = "points"
    holds = "The points ledger adds up."

    def breaches(self) -> list[str]:
        return points_breaches()
