"""The invariant commands an operator runs, asserted clean after every fault scenario."""

from io import StringIO

import pytest
from django.core.management import call_command

COMMANDS = ("verify_stock", "verify_money", "verify_payments", "verify_points")


def assert_invariants_clean() -> None:
    for command in COMMANDS:
        out, err = StringIO(), StringIO()
        try:
            call_command(command, stdout=out, stderr=err)
        except SystemExit:
            pytest.fail(f"{command} found breaches:\n{err.getvalue()}{out.getvalue()}")
