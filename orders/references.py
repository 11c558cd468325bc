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


@dataclass(frozen=True)
class TenderReference:
    """A tender of an order as the points ledger knows its redemption: ``"payment/ID"``."""

    payment_id: int

    def __str__(self) -> str:
        return f"payment/{self.payment_id}"

    @classmethod
    def parse(cls, text: str) -> TenderReference:
        kind, sep, payment_id = text.partition("/")
        if kind != "payment" or not sep or not payment_id.isdigit():
            raise ValueError(f"not a tender reference: {text!r}")
        return cls(payment_id=int(payment_id))


@dataclass(frozen=True)
class EarnReference:
    """What earned points: units of an order that left together (``"NUMBER/earn/KEY"``, the
    key a fulfillment order's id, or ``till`` for a sale handed over at once), or a till's
    sale synced through the movements API (``"pos/SOURCE/EXTERNAL_ID"``)."""

    number: str = ""
    key: str = ""
    pos_source: str = ""
    pos_id: str = ""

    def __str__(self) -> str:
        if self.pos_source:
            return f"pos/{self.pos_source}/{self.pos_id}"
        return f"{self.number}/earn/{self.key}"

    @classmethod
    def parse(cls, text: str) -> EarnReference:
        if text.startswith("pos/"):
            _pos, source, pos_id = text.split("/", 2)
            return cls(pos_source=source, pos_id=pos_id)
        number, sep, key = text.rpartition("/earn/")
        if not sep or not number or not key:
            raise ValueError(f"not an earn reference: {text!r}")
        return cls(number=number, key=key)
