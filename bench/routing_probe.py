"""Routing a ship order in process, on the bench database: run by `run.py` as a subprocess.

For --repeat orders of --lines random SKUs (1 unit each) shipped to a random point of the
chain: the routing snapshot (`inventory.snapshot.sourcing_candidates`) and the engine
(`inventory.sourcing.route`) timed apart, and the size of the decision a caller stores.
Prints one JSON object.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from inventory.models import DeliveryMethod, Sku
    from inventory.snapshot import sourcing_candidates
    from inventory.sourcing import Demand, route
    from stores.models import Location

    rng = random.Random(args.seed)
    sku_ids = list(Sku.objects.order_by("id").values_list("id", flat=True))
    points = list(Location.objects.values_list("latitude", "longitude"))
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    snapshot_ms, route_ms, sizes, candidates, ok = [], [], [], [], 0
    for index in range(args.repeat + 1):
        lines = dict.fromkeys(rng.sample(sku_ids, min(args.lines, len(sku_ids))), 1)
        point = (rng.uniform(min(lats), max(lats)), rng.uniform(min(lons), max(lons)))
        started = time.perf_counter()
        pool = sourcing_candidates(sku_ids=list(lines), method=DeliveryMethod.SHIP)
        taken = time.perf_counter()
        decision = route(Demand(method=DeliveryMethod.SHIP, lines=lines, point=point), pool)
        routed = time.perf_counter()
        if index == 0:
            continue  # warm-up
        snapshot_ms.append((taken - started) * 1000)
        route_ms.append((routed - taken) * 1000)
        sizes.append(len(json.dumps(decision.as_dict(), default=str)))
        candidates.append(len(pool))
        ok += decision.ok
    print(
        json.dumps(
            {
                "orders": args.repeat,
                "lines": args.lines,
                "routed_ok": ok,
                "candidates_mean": sum(candidates) / len(candidates),
                "snapshot_ms_p50": percentile(snapshot_ms, 0.5),
                "snapshot_ms_p99": percentile(snapshot_ms, 0.99),
                "route_ms_p50": percentile(route_ms, 0.5),
                "route_ms_p99": percentile(route_ms, 0.99),
                "decision_bytes_mean": sum(sizes) / len(sizes),
                "decision_bytes_max": max(sizes),
            }
        )
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


if __name__ == "__main__":
    main()
