"""Checkouts arriving on their own, as a peak hour's customers do: an open-loop load.

wrk's connections each send the next request when the last is answered (a closed loop), so
at N connections the latency is N ÷ throughput whatever the servers do, and a slow answer
holds back the requests behind it (coordinated omission). Here orders arrive as a Poisson
process of `--rate` a second for `--seconds`, each on a connection of its own opened when it
arrives, however many are still waiting; its latency runs from when it arrived to the end of
its answer, so the time spent queued for a connection or a server is in it. The same orders
as `lua/checkout.lua` ships (`--lines` random SKUs, a random point of `--bbox`, a fresh
Idempotency-Key). Prints one line `BENCH_RESULT {json}` with wrk's summary keys, run by
`load.py` as a subprocess (its CPU is measured as wrk's is). One asyncio process sends 100
orders a second on a few percent of a core.
"""

import argparse
import asyncio
import itertools
import json
import random
import time
import uuid
from urllib.parse import urlsplit

TIMEOUT = 30.0  # seconds an order may take before it counts as a timeout


def order_body(rng: random.Random, *, skus: int, lines: int, bbox: list[float]) -> bytes:
    """A ship checkout as lua/checkout.lua writes it."""
    lat0, lat1, lon0, lon1 = bbox
    chosen = rng.sample(range(1, skus + 1), min(lines, skus))
    return json.dumps(
        {
            "customer": {
                "email": f"c{rng.randint(1, 1000)}@bench.example.com",
                "name": "Bench customer",
            },
            "channel": "web",
            "lines": [{"sku": f"SKU-{n:05d}", "quantity": 1} for n in chosen],
            "delivery": {
                "method": "ship",
                "address": {
                    "line1": "1 Bench Road",
                    "city": "Shanghai",
                    "country": "CN",
                    "latitude": round(rng.uniform(lat0, lat1), 5),
                    "longitude": round(rng.uniform(lon0, lon1), 5),
                },
            },
        }
    ).encode()


def request_bytes(host: str, token: str, key: str, body: bytes) -> bytes:
    head = (
        "POST /api/v1/checkout HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: Token {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class Tally:
    def __init__(self) -> None:
        self.latencies_us: list[float] = []
        self.ok = self.conflicts = self.other_status = self.socket_errors = self.timeouts = 0
        self.in_flight = self.max_in_flight = 0


async def one_order(host: str, port: int, payload: bytes, arrived: float, tally: Tally) -> None:
    tally.in_flight += 1
    tally.max_in_flight = max(tally.max_in_flight, tally.in_flight)
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            answer = await reader.read()  # to the end: the server closes after its answer
            writer.close()
    except TimeoutError:
        tally.timeouts += 1
        return
    except OSError:
        tally.socket_errors += 1
        return
    finally:
        tally.in_flight -= 1
    tally.latencies_us.append((time.monotonic() - arrived) * 1e6)
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.") else 0
    if 200 <= status < 300:
        tally.ok += 1
    elif status == 409:
        tally.conflicts += 1
    else:
        tally.other_status += 1


async def run(args) -> dict:
    url = urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:12]
    tally, tasks = Tally(), []
    started = time.monotonic()
    due = started
    for n in itertools.count(1):
        due += rng.expovariate(args.rate)
        if due - started >= args.seconds:
            break
        # Timed from `due`: should the loop be late, that wait is in the order's latency.
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        body = order_body(rng, skus=args.skus, lines=args.lines, bbox=args.bbox)
        payload = request_bytes(host, args.token, f"{run_id}-{n}", body)
        tasks.append(asyncio.create_task(one_order(host, port, payload, due, tally)))
    if tasks:
        await asyncio.wait(tasks)
    latencies = sorted(tally.latencies_us) or [0.0]

    def percentile(p: float) -> int:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))])

    return {
        "duration_us": round(args.seconds * 1e6),
        "requests": len(tasks),
        "ok": tally.ok,
        "conflicts": tally.conflicts,
        "other_status": tally.other_status,
        "socket_errors": tally.socket_errors,
        "timeouts": tally.timeouts,
        "p50_us": percentile(50),
        "p90_us": percentile(90),
        "p99_us": percentile(99),
        "max_us": round(latencies[-1]),
        "mean_us": sum(latencies) / len(latencies),
        "max_in_flight": tally.max_in_flight,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="orders a second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--skus", type=int, required=True)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument(
        "--bbox", type=lambda s: [float(v) for v in s.split(",")], required=True,
        help="lat0,lat1,lon0,lon1",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    print("BENCH_RESULT " + json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
