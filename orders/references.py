"""How lower apps know an order line: one opaque reference, built and parsed only here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineReference:
    """An order line as a reservation (or a payment) records it: ``"NUMBER/LINE_ID"``."""

    number: str
    line_id: int

    def __str__(self) -> str:
        return f"{self.number}/{self.line_id}"

    @classmethod
    def parse(cls, text: str) -> LineReference:
        """The reference ``str()`` made; ValueError for anything else."""
        number, sep, line_id = text.rpartition("/")
        if not sep or not number or not line_id.isdigit():
            raise ValueError(f"not an order line reference: {text!r}")
        return cls(number=number, line_id=int(line_id))
