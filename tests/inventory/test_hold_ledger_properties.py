"""The ledger machine of test_ledger_properties, with the hold: every stock change there and
every way into and out of the hold, against a Python model that knows what each must do."""

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from inventory.errors import (
    CountBelowReserved,
    InsufficientHeld,
    InsufficientStock,
    InvalidMovement,
    StaleCount,
)
from inventory.models import CountRequest, Reservation, StockLevel, StockMovement
from inventory.services import (
    stock_cycle_count,
    stock_hold_damaged,
    stock_hold_not_found,
    stock_hold_receive,
    stock_hold_release,
    stock_hold_reserved,
    stock_hold_reverse,
    stock_hold_transfer,
)
from tests.inventory.test_ledger_properties import (
    LOCATIONS,
    SKUS,
    LedgerMachine,
    location_index,
    quantity,
    sku_index,
)

Reason = StockMovement.Reason
disposition = st.sampled_from(["restock", "write_off"])


class HoldLedgerMachine(LedgerMachine):
    """Held units are on hand but never free: no reserve, sale, write-off or transfer takes
    them; only a disposition does, and never the units waiting for a count."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[tuple[int, int], int] = dict.fromkeys(
            [(loc, sku) for loc in range(LOCATIONS) for sku in range(SKUS)], 0
        )
        # count request id -> [pair, units, step it was opened at, still open]
        self.requests: dict[int, list] = {}

    def _free(self, pair: tuple[int, int]) -> int:
        return super()._free(pair) - self.held[pair]

    def _waiting(self, pair: tuple[int, int]) -> int:
        """Units of `pair` held as not found: no disposition may take them before the count."""
        requests = self.requests.values()
        return sum(units for p, units, _, is_open in requests if p == pair and is_open)

    def _count(self, loc: int, sku: int, counted: int, *, when, since: int, **kwargs) -> None:
        """A count settles the not-found requests opened before it was taken; it is refused
        when it leaves less than what is reserved and what stays held."""
        pair = (loc, sku)
        kwargs.update(self._args(loc, sku), counted=counted)
        if any(recorded > when for recorded in self.counts[pair]):
            with pytest.raises(StaleCount):
                stock_cycle_count(**kwargs)
            return
        settled = [
            pk
            for pk, (p, _, step, is_open) in self.requests.items()
            if p == pair and is_open and step < when[0]
        ]
        not_found = sum(self.requests[pk][1] for pk in settled)
        if counted + since < self.model[pair][1] + self.held[pair] - not_found:
            with pytest.raises(CountBelowReserved):
                stock_cycle_count(**kwargs)
            return
        stock_cycle_count(**kwargs)
        self.model[pair][0] = counted + since
        self.held[pair] -= not_found
        for pk in settled:
            self.requests[pk][3] = False
        self.counts[pair].append(when)

    # --- into the hold -------------------------------------------------------------------

    @rule(loc=location_index, sku=sku_index, qty=quantity)
    def hold_receive(self, loc: int, sku: int, qty: int) -> None:
        self._step()
        stock_hold_receive(**self._args(loc, sku), quantity=qty, reference="RMA")
        self._moved((loc, sku), qty)
        self.held[(loc, sku)] += qty

    @rule(loc=location_index, sku=sku_index, qty=quantity, not_found=st.booleans())
    def hold_from_the_shelf(self, loc: int, sku: int, qty: int, not_found: bool) -> None:
        pair = (loc, sku)
        step = self._step()
        service = stock_hold_not_found if not_found else stock_hold_damaged
        if self._free(pair) < qty:
            with pytest.raises(InsufficientStock):
                service(**self._args(loc, sku), quantity=qty, reference="shelf")
            return
        result = service(**self._args(loc, sku), quantity=qty, reference="shelf")
        self.held[pair] += qty
        if not_found:
            self.requests[result.pk] = [pair, qty, step, True]

    @rule(loc=location_index, sku=sku_index, qty=quantity, counted=st.integers(0, 12))
    def count_after_not_found(self, loc: int, sku: int, qty: int, counted: int) -> None:
        """The store counts the shelf it was asked to (units of it were not found)."""
        self.hold_from_the_shelf(loc=loc, sku=sku, qty=qty, not_found=True)
        self.cycle_count(loc=loc, sku=sku, counted=counted)

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), not_found=st.booleans())
    def hold_reserved(self, data: st.DataObject, not_found: bool) -> None:
        """A pick rejected as damaged or not found."""
        pk = data.draw(st.sampled_from(sorted(self.reservations)))
        pair, units, status = self.reservations[pk]
        step = self._step()
        reason = Reason.NOT_FOUND if not_found else Reason.DAMAGED
        requests = stock_hold_reserved(reservations=[pk], reason=reason)
        if status != Reservation.Status.ACTIVE:
            assert requests == []
            return
        self.reservations[pk] = (pair, units, Reservation.Status.RELEASED)
        self.model[pair][1] -= units
        self.held[pair] += units
        if not_found:
            [request] = requests
            self.requests[request.pk] = [pair, units, step, True]
        else:
            assert requests == []

    # --- out of the hold, and back -------------------------------------------------------

    @rule(loc=location_index, sku=sku_index, qty=quantity, disposition=disposition)
    def hold_release(self, loc: int, sku: int, qty: int, disposition: str) -> None:
        pair = (loc, sku)
        self._step()
        kwargs = {**self._args(loc, sku), "quantity": qty, "disposition": disposition}
        if self.held[pair] - self._waiting(pair) < qty:
            with pytest.raises(InsufficientHeld) as caught:
                stock_hold_release(**kwargs, reference="RMA")
            assert caught.value.extra["held"] == self.held[pair] - self._waiting(pair)
            return
        stock_hold_release(**kwargs, reference="RMA")
        self.held[pair] -= qty
        if disposition == "write_off":
            self._moved(pair, -qty)

    @rule(loc=location_index, sku=sku_index, qty=quantity, disposition=disposition)
    def hold_reverse(self, loc: int, sku: int, qty: int, disposition: str) -> None:
        pair = (loc, sku)
        self._step()
        kwargs = {**self._args(loc, sku), "quantity": qty, "disposition": disposition}
        if disposition == "restock" and self._free(pair) < qty:
            with pytest.raises(InsufficientStock):
                stock_hold_reverse(**kwargs, reference="RMA")
            return
        stock_hold_reverse(**kwargs, reference="RMA")
        self.held[pair] += qty
        if disposition == "write_off":
            self._moved(pair, qty)

    @rule(origin=location_index, destination=location_index, sku=sku_index, qty=quantity)
    def hold_transfer(self, origin: int, destination: int, sku: int, qty: int) -> None:
        pair = (origin, sku)
        kwargs = {
            "from_location": self.locations[origin],
            "to_location": self.locations[destination],
            "sku": self.skus[sku],
            "quantity": qty,
            "reference": "RMA",
        }
        self._step()
        if origin == destination:
            with pytest.raises(InvalidMovement):
                stock_hold_transfer(**kwargs)
            return
        if self.held[pair] - self._waiting(pair) < qty:
            with pytest.raises(InsufficientHeld):
                stock_hold_transfer(**kwargs)
            return
        transfer = stock_hold_transfer(**kwargs)
        self.transfers[transfer.pk] = ((destination, sku), qty, False)
        self._moved(pair, -qty)
        self.held[pair] -= qty

    # --- after every step ----------------------------------------------------------------

    @invariant()
    def the_hold_matches_the_model(self) -> None:
        held = {
            (location_id, sku_id): units
            for location_id, sku_id, units in StockLevel.objects.filter(
                location__in=self.locations
            ).values_list("location_id", "sku_id", "held")
        }
        for (loc, sku), units in self.held.items():
            key = (self.locations[loc].pk, self.skus[sku].pk)
            assert held.get(key, 0) == units, (loc, sku)
        open_requests = set(
            CountRequest.objects.filter(
                location__in=self.locations, status=CountRequest.Status.OPEN
            ).values_list("pk", flat=True)
        )
        assert open_requests == {pk for pk, (*_, is_open) in self.requests.items() if is_open}


def test_random_stock_and_hold_changes_keep_ledger_levels_and_the_hold_consistent(db):
    run_state_machine_as_test(
        HoldLedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
