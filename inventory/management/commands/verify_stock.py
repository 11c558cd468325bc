from common.management.breaches import BreachCommand
from inventory.selectors import stock_breaches


class Command(BreachCommand):
    help = (
        "Check the stock invariants: ledger sums equal stock levels, reserved equals active "
        "reservations, quantities within their constraints. Exits 1 on any breach."
    )
    breach = "stock invariant"
    holds = "Stock invariants hold."

    def breaches(self) -> list[str]:
        return stock_breaches()
