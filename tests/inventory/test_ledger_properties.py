"""Random sequences of stock changes against a Python model of what each must do."""

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inventory.errors import CountBelowReserved, InsufficientStock, InvalidMovement, StaleCount
from inventory.models import Reservation, StockLevel, Transfer
from inventory.selectors import stock_breaches
from inventory.services import (
    StockRequest,
    stock_adjust,
    stock_consume,
    stock_cycle_count,
    stock_pos_sale,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_set_safety_stock,
    stock_transfer,
    stock_transfer_receive,
    stock_transfer_reserved,
    stock_write_off,
)
from tests.inventory.factories import SkuFactory
from tests.stores.factories import LocationFactory

LOCATIONS, SKUS = 2, 2

location_index = st.integers(0, LOCATIONS - 1)
sku_index = st.integers(0, SKUS - 1)
# Small numbers, so steps keep landing on the edges: the last unit, safety stock, reserved.
quantity = st.integers(1, 6)
safety_stock = st.integers(0, 3)


def _line_key(line: dict) -> tuple[str, str]:
    return line["location"], line["sku"]


class LedgerMachine(RuleBasedStateMachine):
    """Drives the stock services; after every step the database must equal the model."""

    def __init__(self) -> None:
        super().__init__()
        # Each run's rows go when it ends, so the whole-database invariant checks stay fast
        # however many runs came before; codes stay unique in case a run leaves rows behind.
        self.savepoint = transaction.savepoint()
        run = uuid.uuid4().hex[:8]
        self.locations = [LocationFactory(code=f"HYP-{run}-{i}") for i in range(LOCATIONS)]
        self.skus = [SkuFactory(code=f"HYP-{run}-{i}") for i in range(SKUS)]
        # (location index, sku index) -> [on hand, reserved]
        self.model: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        # reservation id -> (pair, quantity held, status)
        self.reservations: dict[int, tuple[tuple[int, int], int, str]] = {}
        # transfer id -> (destination pair, quantity, received)
        self.transfers: dict[int, tuple[tuple[int, int], int, bool]] = {}
        self.safety: dict[tuple[int, int], int] = defaultdict(int)
        self.demands = 0
        # Time, for counts taken in the past: checkpoints[k] is a moment just before step k;
        # moves[pair] is [(step, change of on hand)] of goods that moved (counts excluded);
        # counts[pair] holds when each recorded count was taken, as (step, 0) for
        # checkpoints[step] and (step, 1) for "now" during that step.
        self.checkpoints: list[datetime] = []
        self.moves: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        self.counts: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)

    def _step(self) -> int:
        """Start a step: remember a moment after everything so far and before all it does."""
        moment = timezone.now()
        while timezone.now() <= moment:
            pass  # microsecond clock: whatever this step records comes strictly later
        self.checkpoints.append(moment)
        return len(self.checkpoints) - 1

    def _moved(self, pair: tuple[int, int], on_hand: int) -> None:
        self.model[pair][0] += on_hand
        self.moves[pair].append((len(self.checkpoints) - 1, on_hand))

    def _free(self, pair: tuple[int, int]) -> int:
        on_hand, reserved = self.model[pair]
        return on_hand - reserved

    def _args(self, loc: int, sku: int) -> dict:
        return {"location": self.locations[loc], "sku": self.skus[sku]}

    @initialize(
        opening=st.lists(
            st.tuples(st.integers(0, 15), safety_stock),
            min_size=LOCATIONS * SKUS,
            max_size=LOCATIONS * SKUS,
        )
    )
    def open_shelves(self, opening: list[tuple[int, int]]) -> None:
        for n, (on_hand, level) in enumerate(opening):
            loc, sku = divmod(n, SKUS)
            if on_hand:
                self.receive(loc=loc, sku=sku, qty=on_hand)
            self.set_safety_stock(loc=loc, sku=sku, level=level)

    @rule(loc=location_index, sku=sku_index, level=safety_stock)
    def set_safety_stock(self, loc: int, sku: int, level: int) -> None:
        stock_set_safety_stock(**self._args(loc, sku), safety_stock=level)
        self.safety[(loc, sku)] = level

    # --- movements at one location ------------------------------------------------------

    @rule(loc=location_index, sku=sku_index, qty=st.integers(1, 10))
    def receive(self, loc: int, sku: int, qty: int) -> None:
        self._step()
        stock_receive(**self._args(loc, sku), quantity=qty)
        self._moved((loc, sku), qty)

    @rule(loc=location_index, sku=sku_index, delta=st.integers(-5, 5).filter(bool))
    def adjust(self, loc: int, sku: int, delta: int) -> None:
        pair = (loc, sku)
        self._step()
        if delta < 0 and self._free(pair) < -delta:
            with pytest.raises(InsufficientStock):
                stock_adjust(**self._args(loc, sku), delta=delta)
            return
        stock_adjust(**self._args(loc, sku), delta=delta)
        self._moved(pair, delta)

    @rule(loc=location_index, sku=sku_index, counted=st.integers(0, 12))
    def cycle_count(self, loc: int, sku: int, counted: int) -> None:
        step = self._step()
        self._count(loc, sku, counted, when=(step, 1), since=0)

    @precondition(lambda self: self.checkpoints)
    @rule(loc=location_index, sku=sku_index, counted=st.integers(0, 12), data=st.data())
    def cycle_count_taken_earlier(
        self, loc: int, sku: int, counted: int, data: st.DataObject
    ) -> None:
        """Sent late: taken before some of the steps so far, maybe before a count already
        recorded; or so long ago that it cannot be replayed."""
        pair = (loc, sku)
        step = self._step()
        taken = data.draw(st.sampled_from(["too_old", *range(step + 1)]), label="taken")
        if taken == "too_old":
            with pytest.raises(InvalidMovement):
                stock_cycle_count(
                    **self._args(loc, sku),
                    counted=counted,
                    counted_at=timezone.now() - timedelta(days=8),
                )
            return
        since = sum(change for at, change in self.moves[pair] if at >= taken)
        self._count(
            loc, sku, counted, when=(taken, 0), since=since, counted_at=self.checkpoints[taken]
        )

    def _count(self, loc: int, sku: int, counted: int, *, when, since: int, **kwargs) -> None:
        """What a count must do: refused when a newer count is recorded, or when it leaves less
        than is reserved; else on hand is what was counted plus the goods that moved since."""
        pair = (loc, sku)
        kwargs.update(self._args(loc, sku), counted=counted)
        if any(recorded > when for recorded in self.counts[pair]):
            with pytest.raises(StaleCount):
                stock_cycle_count(**kwargs)
            return
        if counted + since < self.model[pair][1]:
            with pytest.raises(CountBelowReserved):
                stock_cycle_count(**kwargs)
            return
        stock_cycle_count(**kwargs)
        self.model[pair][0] = counted + since
        self.counts[pair].append(when)

    @rule(loc=location_index, sku=sku_index, qty=quantity, pos_sale=st.booleans())
    def take(self, loc: int, sku: int, qty: int, pos_sale: bool) -> None:
        """An in-store sale or a write-off: both may use safety stock, never reserved stock."""
        pair = (loc, sku)
        self._step()
        service = stock_pos_sale if pos_sale else stock_write_off
        if self._free(pair) < qty:
            with pytest.raises(InsufficientStock) as caught:
                service(**self._args(loc, sku), quantity=qty)
            assert caught.value.extra["lines"][0]["available"] == max(0, self._free(pair))
            return
        service(**self._args(loc, sku), quantity=qty)
        self._moved(pair, -qty)

    # --- reservations ------------------------------------------------------------------

    @rule(loc=location_index, sku=sku_index, qty=st.integers(1, 3))
    def reserve_online(self, loc: int, sku: int, qty: int) -> None:
        self._reserve([(loc, sku, qty)], allow_safety_stock=False)

    @rule(loc=location_index, sku=sku_index, qty=st.integers(1, 3))
    def reserve_in_store(self, loc: int, sku: int, qty: int) -> None:
        self._reserve([(loc, sku, qty)], allow_safety_stock=True)

    @rule(
        lines=st.lists(st.tuples(location_index, sku_index, st.integers(1, 3)), min_size=2,
                       max_size=4),
        allow_safety_stock=st.booleans(),
    )  # fmt: skip
    def reserve_many(self, lines: list[tuple[int, int, int]], allow_safety_stock: bool) -> None:
        self._reserve(lines, allow_safety_stock=allow_safety_stock)

    def _reserve(self, lines: list[tuple[int, int, int]], *, allow_safety_stock: bool) -> None:
        self.demands += 1
        demand = f"D-{self.demands}"
        totals: dict[tuple[int, int], int] = defaultdict(int)
        for loc, sku, qty in lines:
            totals[(loc, sku)] += qty
        promisable = {
            pair: max(0, self._free(pair) - (0 if allow_safety_stock else self.safety[pair]))
            for pair in totals
        }
        short = {pair for pair, qty in totals.items() if promisable[pair] < qty}
        requests = [
            StockRequest(
                location_id=self.locations[loc].pk,
                sku_id=self.skus[sku].pk,
                quantity=qty,
                reference=f"{demand}/{n}",
            )
            for n, (loc, sku, qty) in enumerate(lines)
        ]
        if short:
            with pytest.raises(InsufficientStock) as caught:
                stock_reserve(
                    requests=requests, demand=demand, allow_safety_stock=allow_safety_stock
                )
            expected = [
                {
                    "sku": self.skus[sku].code,
                    "location": self.locations[loc].code,
                    "requested": totals[(loc, sku)],
                    "available": promisable[(loc, sku)],
                }
                for loc, sku in short
            ]
            # Every short line and no other, whatever order the request listed them in.
            assert sorted(caught.value.extra["lines"], key=_line_key) == sorted(
                expected, key=_line_key
            )
            return
        reservations = stock_reserve(
            requests=requests, demand=demand, allow_safety_stock=allow_safety_stock
        )
        assert len(reservations) == len(lines)
        for reservation, (loc, sku, qty) in zip(reservations, lines, strict=True):
            self.reservations[reservation.pk] = ((loc, sku), qty, Reservation.Status.ACTIVE)
        for pair, qty in totals.items():
            self.model[pair][1] += qty

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), partial=st.booleans())
    def release(self, data: st.DataObject, partial: bool) -> None:
        pk = data.draw(st.sampled_from(sorted(self.reservations)))
        pair, held, status = self.reservations[pk]
        amount = data.draw(st.integers(1, held)) if partial else held
        quantities = {pk: amount} if partial else None
        released = stock_release(reservations=[pk], quantities=quantities)
        if status != Reservation.Status.ACTIVE:
            assert released == [], "a settled reservation was released again"
            return
        assert [r.pk for r in released] == [pk]
        left = held - amount
        self.reservations[pk] = (
            pair,
            left or held,
            Reservation.Status.ACTIVE if left else Reservation.Status.RELEASED,
        )
        self.model[pair][1] -= amount

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def consume(self, data: st.DataObject) -> None:
        pk = data.draw(st.sampled_from(sorted(self.reservations)))
        pair, held, status = self.reservations[pk]
        self._step()
        consumed = stock_consume(reservations=[pk])
        if status != Reservation.Status.ACTIVE:
            assert consumed == [], "a settled reservation was consumed again"
            return
        assert [r.pk for r in consumed] == [pk]
        self.reservations[pk] = (pair, held, Reservation.Status.CONSUMED)
        self._moved(pair, -held)
        self.model[pair][1] -= held

    # --- transfers ---------------------------------------------------------------------

    @rule(origin=location_index, destination=location_index, sku=sku_index, qty=quantity)
    def transfer(self, origin: int, destination: int, sku: int, qty: int) -> None:
        kwargs = {
            "from_location": self.locations[origin],
            "to_location": self.locations[destination],
            "sku": self.skus[sku],
            "quantity": qty,
        }
        self._step()
        if origin == destination:
            with pytest.raises(InvalidMovement):
                stock_transfer(**kwargs)
            return
        if self._free((origin, sku)) < qty:
            with pytest.raises(InsufficientStock):
                stock_transfer(**kwargs)
            return
        transfer = stock_transfer(**kwargs)
        self.transfers[transfer.pk] = ((destination, sku), qty, False)
        self._moved((origin, sku), -qty)

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), destination=location_index)
    def transfer_reserved(self, data: st.DataObject, destination: int) -> None:
        """Ship-to-store: held units travel with their reservation."""
        pk = data.draw(st.sampled_from(sorted(self.reservations)))
        (loc, sku), held, status = self.reservations[pk]
        to_location = self.locations[destination]
        self._step()
        if status != Reservation.Status.ACTIVE:
            assert stock_transfer_reserved(reservation=pk, to_location=to_location) is None
            return
        if destination == loc:
            with pytest.raises(InvalidMovement):
                stock_transfer_reserved(reservation=pk, to_location=to_location)
            return
        transfer = stock_transfer_reserved(reservation=pk, to_location=to_location)
        self.reservations[pk] = ((loc, sku), held, Reservation.Status.CONSUMED)
        self.transfers[transfer.pk] = ((destination, sku), held, False)
        self._moved((loc, sku), -held)
        self.model[(loc, sku)][1] -= held

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def transfer_receive(self, data: st.DataObject) -> None:
        pk = data.draw(st.sampled_from(sorted(self.transfers)))
        pair, qty, received = self.transfers[pk]
        self._step()
        result = stock_transfer_receive(transfer=Transfer.objects.get(pk=pk))
        assert result.status == Transfer.Status.RECEIVED
        if not received:
            self.transfers[pk] = (pair, qty, True)
            self._moved(pair, qty)

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    # --- after every step --------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        levels = {
            (level.location_id, level.sku_id): (level.on_hand, level.reserved)
            for level in StockLevel.objects.filter(location__in=self.locations)
        }
        for loc in range(LOCATIONS):
            for sku in range(SKUS):
                key = (self.locations[loc].pk, self.skus[sku].pk)
                assert levels.get(key, (0, 0)) == tuple(self.model[(loc, sku)]), (loc, sku)
        held = {
            pk: (quantity, status)
            for pk, quantity, status in Reservation.objects.filter(
                pk__in=self.reservations
            ).values_list("pk", "quantity", "status")
        }
        assert held == {pk: (qty, status) for pk, (_, qty, status) in self.reservations.items()}

    @invariant()
    def no_invariant_is_broken(self) -> None:
        assert stock_breaches() == []


def test_random_stock_changes_keep_ledger_levels_and_reservations_consistent(db):
    run_state_machine_as_test(
        LedgerMachine,
        # A failure prints its whole step sequence at once; shrinking it through the
        # database would take minutes.
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
