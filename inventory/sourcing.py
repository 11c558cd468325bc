"""The routing engine: which locations supply a demand.

`route(demand, candidates)` is a pure function over a snapshot, so it is deterministic and
explainable: the decision shows the chosen locations, the runners-up and the nearest
dropped ones (whether each was kept, why, its score) and counts every location considered
by what became of it. The snapshot is built by `inventory.snapshot.sourcing_candidates`,
which leaves out the locations that cannot change the decision (a `Snapshot` says how many)
and, for a ship order, looks no farther than the nearest locations when those settle it.

Ship: one location that has every line if possible; otherwise the fewest locations (an
exact search over the EXACT_SEARCH_CANDIDATES best, then greedy set cover over those and,
per line, the deepest holders that together cover it); ties go to the lower score:
distance to the customer, stretched and lengthened by the location's recent rejection
rate, then the preferred kind (warehouse before store by default), then stock depth, then
code. Every rule looks only at the best few by one ranking or another, so a snapshot that
holds those few (and the counts of the rest) decides as the whole chain would; one of only
the nearest locations (`Snapshot.nearest_only`) chooses the same and shows the same
runners-up, and may show more of them in place of dropped ones farther than it looked.
Pickup, curbside and carry-out: the chosen store, or a shortage with nearby alternatives
(also when the store is closed or does not offer the method).
Ship-to-store (pickup or curbside with `allow_transfer`): what the store lacks is routed as
a ship order to the store itself, from other locations that can ship; the caller moves it
there with a transfer. Without `allow_transfer` a shortage still says whether that would work.

One module though it passes the house's ~400 lines: it is one engine (its types, the ship
rules, the at-store rules and the explanation share one score and one vocabulary of drop
reasons, and the snapshot's SQL mirrors them), best read and changed in one file; it has
no I/O, and the snapshot that feeds it lives in `inventory/snapshot.py`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import asin, cos, radians, sin, sqrt
from operator import ge, itemgetter

from inventory.models import DeliveryMethod, store_capability
from stores.geo import EARTH_RADIUS_KM, haversine_km
from stores.models import Location

AT_STORE = (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE, DeliveryMethod.CARRY_OUT)
# Units on their way to a pickup store are held with TRANSFER at their source, where they
# use ship capacity like a ship order.
USES_SHIP_CAPACITY = (DeliveryMethod.SHIP, DeliveryMethod.TRANSFER)

# How much a location's recent rejection rate stretches its distance (rate 1.0 -> x3)...
REJECTION_PENALTY = 2.0
# ...and adds to it, so the rate counts even at the customer's door (rate 1.0 -> +5 km).
REJECTION_PENALTY_KM = 5.0
# Exact search for the fewest locations over at most this many candidates.
EXACT_SEARCH_CANDIDATES = 14
MAX_SPLITS = 4
ALTERNATIVES = 5
# The stored explanation: the chosen locations first, then at least RUNNERS_UP_SHOWN
# runners-up (when there are), then the nearest dropped ones, CONSIDERED_SHOWN in all; the
# summary counts every location considered (the whole chain, or only the nearest ones).
CONSIDERED_SHOWN = 12
RUNNERS_UP_SHOWN = 4

_NO_STOCK = (0, 0)
_DIAMETER_KM = 2 * EARTH_RADIUS_KM


@dataclass(frozen=True, slots=True)
class Candidate:
    """One location as the engine sees it: capabilities and per-SKU stock."""

    location_id: int
    code: str
    kind: str
    latitude: float
    longitude: float
    is_active: bool = True
    can_ship: bool = False
    can_pickup: bool = False
    can_curbside: bool = False
    capacity_left: int = 0
    rejection_rate: float = 0.0
    # sku id -> (available to promise online, available including safety stock)
    stock: dict[int, tuple[int, int]] = field(default_factory=dict)

    def units(self, sku_id: int, *, allow_safety_stock: bool) -> int:
        atp, free = self.stock.get(sku_id, _NO_STOCK)
        return max(0, free if allow_safety_stock else atp)


class Snapshot(list):
    """The candidates of one demand, cut to those that can matter, and how many locations
    were left out, by what the router would have made of each (`"kept"` or a drop reason),
    so that the decision's summary still counts every location looked at: the whole chain,
    or with `nearest_only` the nearest locations to the customer, when they settle the
    decision (every farther one is farther than each location the decision shows kept)."""

    def __init__(
        self,
        candidates: Iterable[Candidate] = (),
        *,
        left_out: Mapping[str, int] | None = None,
        nearest_only: bool = False,
    ) -> None:
        super().__init__(candidates)
        self.left_out = dict(left_out or {})
        self.nearest_only = nearest_only


@dataclass(frozen=True, slots=True)
class Demand:
    method: str
    lines: dict[int, int]  # sku id -> quantity
    location_id: int | None = None  # the store for pickup, curbside and carry-out
    point: tuple[float, float] | None = None  # the customer, for ship
    exclude: frozenset[int] = frozenset()
    prefer: str = Location.Kind.WAREHOUSE
    allow_safety_stock: bool = False
    allow_transfer: bool = False  # pickup/curbside: ship what the store lacks into it


@dataclass(frozen=True, slots=True)
class Allocation:
    location_id: int
    code: str
    sku_id: int
    quantity: int
    transfer_to: str = ""  # code of the store this is moved to (ship-to-store)


@dataclass
class RoutingDecision:
    method: str
    allocations: list[Allocation]
    considered: list[dict]
    shortages: dict[int, tuple[int, int]]  # sku id -> (requested, available)
    alternatives: list[dict] = field(default_factory=list)
    # A shortage at a pickup store that a transfer from other locations would cover.
    transfer_possible: bool = False
    # How many locations were considered, kept, and dropped for each reason: all of them,
    # where `considered` details only the chosen, the runners-up and the nearest dropped;
    # `nearest_only` when only the nearest to the customer were (every farther one is
    # farther than each kept one shown, so its score could be no better).
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.shortages

    @property
    def transfers(self) -> list[Allocation]:
        return [a for a in self.allocations if a.transfer_to]

    @property
    def location_ids(self) -> list[int]:
        return sorted({a.location_id for a in self.allocations})

    def as_dict(self, sku_codes: dict[int, str] | None = None) -> dict:
        codes = sku_codes or {}

        def allocation(a: Allocation) -> dict:
            shown = {
                "location": a.code,
                "sku": codes.get(a.sku_id, a.sku_id),
                "quantity": a.quantity,
            }
            return {**shown, "transfer_to": a.transfer_to} if a.transfer_to else shown

        return {
            "method": self.method,
            "ok": self.ok,
            "locations": sorted({a.code for a in self.allocations}),
            "allocations": [allocation(a) for a in self.allocations],
            "considered": self.considered,
            "shortages": [
                {"sku": codes.get(sku, sku), "requested": req, "available": avail}
                for sku, (req, avail) in sorted(self.shortages.items())
            ],
            "transfer_possible": self.transfer_possible,
            "summary": self.summary,
        }


def route(demand: Demand, candidates: list[Candidate]) -> RoutingDecision:
    if demand.method == DeliveryMethod.SHIP:
        if isinstance(candidates, Snapshot):
            return _route_ship(demand, candidates, candidates.left_out, candidates.nearest_only)
        return _route_ship(demand, candidates)
    if demand.method in AT_STORE:
        return _route_at_store(demand, candidates)
    raise ValueError(f"unknown delivery method {demand.method!r}")


# --- ship ---------------------------------------------------------------------------------

# A location that can take the order, as the ship search sees it, is a plain tuple (cheap to
# build a thousand times): its score, the units it can give of each line (lines in SKU
# order), whether those cover every line, its distance to the customer, the candidate.
_Kept = tuple
_SCORE, _UNITS, _WHOLE, _KM, _CANDIDATE = range(5)


def _distance(demand: Demand, c: Candidate) -> float:
    if demand.point is None:
        return 0.0
    return haversine_km(demand.point[0], demand.point[1], c.latitude, c.longitude)


def _sorted_out(
    demand: Demand, candidates: Iterable[Candidate], skus: list[int]
) -> tuple[list[_Kept], list[tuple[str, Candidate]]]:
    """The locations that can take the order, scored; the others with their reason: not
    active, no shipping, no ship capacity left today, nothing of any line to promise."""
    column = 1 if demand.allow_safety_stock else 0
    exclude, prefer, point = demand.exclude, demand.prefer, demand.point
    qtys = [demand.lines[sku] for sku in skus]
    # haversine_km inlined (the same operations, so the same distances): a thousand calls.
    lat0, lng0 = point if point is not None else (0.0, 0.0)
    cos0 = cos(radians(lat0))
    kept: list[_Kept] = []
    dropped: list[tuple[str, Candidate]] = []
    for c in candidates:
        if c.location_id in exclude:
            dropped.append(("excluded_after_rejection", c))
        elif not c.is_active:
            dropped.append(("inactive", c))
        elif not c.can_ship:
            dropped.append(("no_capability", c))
        elif c.capacity_left <= 0:
            dropped.append(("capacity_used_up", c))
        else:
            stock = c.stock
            units = [u if (u := stock.get(sku, _NO_STOCK)[column]) > 0 else 0 for sku in skus]
            depth = sum(units)
            if not depth:
                held_back = any(stock.get(sku, _NO_STOCK)[1] > 0 for sku in skus)
                dropped.append(("safety_stock" if held_back else "no_stock", c))
                continue
            if point is None:
                km = 0.0
            else:
                lat = c.latitude
                a = (
                    sin(radians(lat - lat0) / 2) ** 2
                    + cos0 * cos(radians(lat)) * sin(radians(c.longitude - lng0) / 2) ** 2
                )
                km = _DIAMETER_KM * asin(min(1.0, sqrt(a)))
            rate = c.rejection_rate
            if rate:
                distance = km * (1 + REJECTION_PENALTY * rate) + REJECTION_PENALTY_KM * rate
            else:
                distance = km
            score = (round(distance, 3), 0 if c.kind == prefer else 1, -depth, c.code)
            whole = all(map(ge, units, qtys))
            kept.append((score, units, whole, km, c))
    return kept, dropped


def _split_search(kept: list[_Kept], qtys: list[int]) -> list[_Kept] | None:
    """The fewest locations among the best EXACT_SEARCH_CANDIDATES, ties to the better
    scores; else greedy set cover over those and, per line, the deepest holders that
    together cover it. None when some line is short across all of them (so everywhere)."""
    pool = heapq.nsmallest(EXACT_SEARCH_CANDIDATES, kept, key=itemgetter(_SCORE))
    for size in range(2, min(MAX_SPLITS, len(pool)) + 1):
        found = _first_cover(pool, qtys, size)
        if found is not None:
            return found
    wanted = {id(k): k for k in pool}
    for j, qty in enumerate(qtys):
        holders = sorted(
            (k for k in kept if k[_UNITS][j] > 0),
            key=lambda k, j=j: (-k[_UNITS][j], k[_CANDIDATE].location_id),
        )
        before = 0
        for k in holders:
            if before >= qty:
                break
            wanted[id(k)] = k
            before += k[_UNITS][j]
    return _greedy(sorted(wanted.values(), key=itemgetter(_SCORE)), qtys)


def _first_cover(pool: list[_Kept], qtys: list[int], size: int) -> list[_Kept] | None:
    """The first `size` locations of `pool` (in score order) that cover every line, in the
    order combinations come: the first found has the best scores. Run after every smaller
    size failed, so a location adding nothing to those before it is never part of one."""
    n = len(pool)

    def search(start: int, need: list[int], left: int) -> list[_Kept] | None:
        for i in range(start, n - left + 1):
            units = pool[i][_UNITS]
            if left == 1:
                if all(u >= q for u, q in zip(units, need, strict=True)):
                    return [pool[i]]
                continue
            rest = [q - u if q > u else 0 for q, u in zip(need, units, strict=True)]
            if rest == need:
                continue
            found = search(i + 1, rest, left - 1)
            if found is not None:
                return [pool[i], *found]
        return None

    return search(0, qtys, size)


def _greedy(ranked: list[_Kept], qtys: list[int]) -> list[_Kept] | None:
    """Set cover by most units still needed, ties to the better score."""
    remaining = list(qtys)
    chosen: list[_Kept] = []
    taken: set[int] = set()
    while any(remaining):
        best, best_gain = None, 0
        for k in ranked:
            if id(k) in taken:
                continue
            gain = sum(u if u < r else r for r, u in zip(remaining, k[_UNITS], strict=True))
            if gain > best_gain:
                best, best_gain = k, gain
        if best is None:
            return None
        chosen.append(best)
        taken.add(id(best))
        remaining = [r - u if r > u else 0 for r, u in zip(remaining, best[_UNITS], strict=True)]
    return chosen


def _allocate(skus: list[int], qtys: list[int], chosen: list[_Kept]) -> list[Allocation]:
    """Fill each line from the chosen locations in their order."""
    allocations = []
    for j, (sku, qty) in enumerate(zip(skus, qtys, strict=True)):
        remaining = qty
        for k in chosen:
            take = min(remaining, k[_UNITS][j])
            if take > 0:
                c = k[_CANDIDATE]
                allocations.append(Allocation(c.location_id, c.code, sku, take))
                remaining -= take
            if remaining == 0:
                break
    return allocations


def _route_ship(
    demand: Demand,
    candidates: Iterable[Candidate],
    left_out: Mapping[str, int] | None = None,
    nearest_only: bool = False,
) -> RoutingDecision:
    skus = sorted(demand.lines)
    qtys = [demand.lines[sku] for sku in skus]
    kept, dropped = _sorted_out(demand, candidates, skus)
    summary = _summary(kept, dropped, left_out or {})
    if nearest_only:
        summary["nearest_only"] = True
    # One location with every line wins however far down the ranking it is.
    wholes = [k for k in kept if k[_WHOLE]]
    chosen = [min(wholes, key=itemgetter(_SCORE))] if wholes else _split_search(kept, qtys)
    if chosen is None:
        shortages = {}
        for j, (sku, qty) in enumerate(zip(skus, qtys, strict=True)):
            available = sum(k[_UNITS][j] for k in kept)
            if available < qty:
                shortages[sku] = (qty, available)
        considered = _explained(demand, kept, dropped, None)
        return RoutingDecision(DeliveryMethod.SHIP, [], considered, shortages, summary=summary)
    considered = _explained(demand, kept, dropped, chosen)
    allocations = _allocate(skus, qtys, chosen)
    return RoutingDecision(DeliveryMethod.SHIP, allocations, considered, {}, summary=summary)


def _summary(
    kept: list[_Kept], dropped: list[tuple[str, Candidate]], left_out: Mapping[str, int]
) -> dict:
    counts: dict[str, int] = dict(left_out)
    for reason, _ in dropped:
        counts[reason] = counts.get(reason, 0) + 1
    n_kept = len(kept) + counts.pop("kept", 0)
    return {
        "considered": n_kept + sum(counts.values()),
        "kept": n_kept,
        "dropped": dict(sorted(counts.items())),
    }


def _explained(
    demand: Demand,
    kept: list[_Kept],
    dropped: list[tuple[str, Candidate]],
    chosen: list[_Kept] | None,
) -> list[dict]:
    """The chosen locations (nearest first), the runners-up (best first) and the nearest
    dropped ones: enough to explain, small enough to store."""
    picked = {id(k) for k in chosen or ()}
    room = max(0, CONSIDERED_SHOWN - len(picked))
    runners_up = heapq.nsmallest(
        room, (k for k in kept if id(k) not in picked), key=itemgetter(_SCORE)
    )
    nearest = heapq.nsmallest(
        room,
        ((round(_distance(demand, c), 2), c.code, reason, c) for reason, c in dropped),
        key=itemgetter(0, 1),
    )
    shown_up = min(len(runners_up), max(RUNNERS_UP_SHOWN, room - len(nearest)))
    marked = chosen is not None

    def kept_entry(k: _Kept, is_chosen: bool) -> dict:
        entry = _entry(k[_CANDIDATE], k[_KM])
        entry.update(kept=True, score=list(k[_SCORE][:3]))
        if marked:
            entry["chosen"] = is_chosen
        return entry

    entries = [
        kept_entry(k, True)
        for k in sorted(chosen or (), key=lambda k: (round(k[_KM], 2), k[_CANDIDATE].code))
    ]
    entries += [kept_entry(k, False) for k in runners_up[:shown_up]]
    for _, _, reason, c in nearest[: room - shown_up]:
        entry = _entry(c, _distance(demand, c))
        entry.update(kept=False, reason=reason)
        if marked:
            entry["chosen"] = False
        entries.append(entry)
    return entries


def _entry(c: Candidate, km: float) -> dict:
    return {
        "location": c.code,
        "kind": c.kind,
        "distance_km": round(km, 2),
        "rejection_rate": round(c.rejection_rate, 3),
        "capacity_left": c.capacity_left,
    }


# --- at a store -----------------------------------------------------------------------------


def _offers(method: str, c: Candidate) -> bool:
    flag = store_capability(method)  # None for carry-out: any location that sells
    return flag is None or getattr(c, flag)


def _at_store_drop_reason(demand: Demand, store: Candidate) -> str | None:
    if not store.is_active:
        return "inactive"
    if not _offers(demand.method, store):
        return "no_capability"
    return None


def _route_at_store(demand: Demand, candidates: list[Candidate]) -> RoutingDecision:
    store = next((c for c in candidates if c.location_id == demand.location_id), None)
    if store is None:
        shortages = {sku: (qty, 0) for sku, qty in demand.lines.items()}
        return RoutingDecision(demand.method, [], [], shortages)
    reason = _at_store_drop_reason(demand, store)
    if reason:
        # Nothing is to be had there by this method, whatever its shelves hold.
        entry = {"location": store.code, "kept": False, "chosen": False, "reason": reason}
        shortages = {sku: (qty, 0) for sku, qty in demand.lines.items()}
        return RoutingDecision(
            demand.method, [], [entry], shortages, _alternatives(demand, store, candidates)
        )
    here = {
        sku: min(qty, store.units(sku, allow_safety_stock=demand.allow_safety_stock))
        for sku, qty in demand.lines.items()
    }
    missing = {sku: qty - here[sku] for sku, qty in demand.lines.items() if here[sku] < qty}
    at_store = [
        Allocation(store.location_id, store.code, sku, qty)
        for sku, qty in sorted(here.items())
        if qty > 0
    ]
    if not missing:
        entry = {"location": store.code, "kept": True, "chosen": True}
        return RoutingDecision(demand.method, at_store, [entry], {})
    transfer = _route_transfer(demand, store, candidates, missing)
    if demand.allow_transfer and transfer is not None and transfer.ok:
        # The store stays the pickup point; what it lacks comes in from the chosen sources.
        entry = {"location": store.code, "kept": True, "chosen": True, "receives_transfer": True}
        inbound = [
            Allocation(a.location_id, a.code, a.sku_id, a.quantity, transfer_to=store.code)
            for a in transfer.allocations
        ]
        return RoutingDecision(demand.method, at_store + inbound, [entry, *transfer.considered], {})
    entry = {"location": store.code, "kept": False, "chosen": False, "reason": "no_stock"}
    shortages = {sku: (qty, here[sku]) for sku, qty in demand.lines.items() if sku in missing}
    return RoutingDecision(
        demand.method,
        [],
        [entry],
        shortages,
        _alternatives(demand, store, candidates),
        transfer_possible=transfer is not None and transfer.ok,
    )


def transfer_demand(demand: Demand, store: Candidate, missing: Mapping[int, int]) -> Demand:
    """What a pickup store lacks (sku id -> units), as a ship demand to the store."""
    return Demand(
        method=DeliveryMethod.SHIP,
        lines=dict(missing),
        point=(store.latitude, store.longitude),
        exclude=demand.exclude,
        prefer=demand.prefer,
    )


def missing_at_store(demand: Demand, store: Candidate) -> dict[int, int]:
    """The units of each line the store cannot give (sku id -> units); empty when none."""
    missing = {}
    for sku, qty in demand.lines.items():
        here = min(qty, store.units(sku, allow_safety_stock=demand.allow_safety_stock))
        if here < qty:
            missing[sku] = qty - here
    return missing


def _route_transfer(
    demand: Demand, store: Candidate, candidates: list[Candidate], missing: dict[int, int]
) -> RoutingDecision | None:
    """Route what the store lacks as a ship order to the store, from the other locations."""
    if demand.method not in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
        return None  # a sale at the till cannot wait for a delivery
    to_store = transfer_demand(demand, store, missing)
    others = (c for c in candidates if c.location_id != store.location_id)
    return _route_ship(to_store, others)


def _alternatives(
    demand: Demand, store: Candidate | None, candidates: list[Candidate]
) -> list[dict]:
    """Nearest other stores offering the same method that have every line."""
    if store is None:
        return []
    options = []
    for c in candidates:
        if c.location_id == store.location_id or not c.is_active or not _offers(demand.method, c):
            continue
        if all(
            c.units(sku, allow_safety_stock=demand.allow_safety_stock) >= qty
            for sku, qty in demand.lines.items()
        ):
            km = haversine_km(store.latitude, store.longitude, c.latitude, c.longitude)
            options.append((round(km, 2), c.code))
    return [{"location": code, "distance_km": km} for km, code in sorted(options)[:ALTERNATIVES]]
