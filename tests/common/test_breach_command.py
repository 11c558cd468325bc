"""The base of the verify_* commands: breaches to stderr and exit 1, else a line that all holds."""

from io import StringIO

import pytest

from common.management.breaches import BreachCommand


class Check(BreachCommand):
    breach = "widget"
    holds = "Widgets hold."

    def __init__(self, found: list[str]):
        self.out, self.err = StringIO(), StringIO()
        super().__init__(stdout=self.out, stderr=self.err)
        self.found = found

    def breaches(self) -> list[str]:
        return self.found


def test_each_breach_is_written_then_counted_and_the_command_exits_1():
    check = Check(["widget 1 is bent", "widget 2 is missing"])

    with pytest.raises(SystemExit) as exited:
        check.handle()

    assert exited.value.code == 1
    assert check.err.getvalue().splitlines() == [
        "widget 1 is bent",
        "widget 2 is missing",
        "2 widget breach(es).",
    ]
    assert check.out.getvalue() == ""


def test_without_breaches_it_says_so_and_returns():
    check = Check([])

    check.handle()

    assert check.out.getvalue().strip() == "Widgets hold."
    assert check.err.getvalue() == ""
