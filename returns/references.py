"""How lower apps know a return: one opaque reference, built and parsed only here."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "return:"


@dataclass(frozen=True)
class ReturnReference:
    """A return as stock movements and refunds record it: ``"return:RMA"``, or
    ``"return:RMA/ROUND"`` for the refund of one round (a corrected inspection's top-up)."""

    rma: str
    round: int = 0

    def __str__(self) -> str:
        return f"{PREFIX}{self.rma}" + (f"/{self.round}" if self.round else "")

    @classmethod
    def parse(cls, text: str) -> ReturnReference:
        """The reference ``str()`` made; ValueError for anything else."""
        if not text.startswith(PREFIX):
            raise ValueError(f"not a return reference: {text!r}")
        rma, sep, round_ = text[len(PREFIX) :].partition("/")
        if not rma or (sep and not round_.isdigit()):
            raise ValueError(f"not a return reference: {text!r}")
        return cls(rma=rma, round=int(round_) if sep else 0)


def refund_keys(*, rma: str, rounds: int) -> list[str]:
    """The payments keys of every refund round of a return."""
    return [str(ReturnReference(rma=rma, round=n)) for n in range(rounds)]
