"""The raw ceiling: how fast one Python process reads the interactions topic and does the least
any processor must do with each record (parse the JSON, update a dict per customer).

Run by the benchmark pinned to one core:

    python -m tests.benchmarks.raw_ceiling --bootstrap 127.0.0.1:19400 --topic T --expect N

Prints one JSON line: records, seconds (from the first fetch, once the consumer has started,
to the last record handled), events_per_second, seconds_first_batch_to_last, ...
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

__all__ = ["main", "read_all"]


async def read_all(bootstrap: str, topic: str, expect: int, stall: float) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group, no commits: every partition, from the beginning
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    started = time.perf_counter()
    try:
        counts: dict[str, int] = {}
        records = unparsable = 0
        first: float | None = None
        last = last_progress = time.perf_counter()
        while records < expect:
            batch = await consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            if not batch:
                if now - last_progress > stall:
                    raise SystemExit(
                        f"raw_ceiling: no record for {stall:.0f} s after {records} of {expect}"
                    )
                continue
            if first is None:
                first = now
            for messages in batch.values():
                for message in messages:
                    try:
                        doc = orjson.loads(message.value) if message.value is not None else None
                    except orjson.JSONDecodeError:
                        unparsable += 1
                        continue
                    customer = doc.get("customer_id") if isinstance(doc, dict) else None
                    key = customer if isinstance(customer, str) else ""
                    counts[key] = counts.get(key, 0) + 1
                records += len(messages)
            last = last_progress = time.perf_counter()
    finally:
        await consumer.stop()
    # From the first fetch (the consumer has started: connected, metadata in) to the last
    # record handled. Timing from the first batch's arrival instead would leave out the fetch
    # of that batch, up to 1 MiB per partition: most of a small topic.
    seconds = last - started
    after_first = last - (first if first is not None else last)
    return {
        "records": records,
        "customers": len(counts) - (1 if "" in counts else 0),
        "unparsable": unparsable,
        "seconds": seconds,
        "events_per_second": records / seconds if seconds > 0 else 0.0,
        "seconds_first_batch_to_last": after_first,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.raw_ceiling",
        description="Read a whole topic with one AIOKafkaConsumer (getmany batches, orjson.loads "
        "of each value, a dict update per customer); print the rate as one JSON line.",
    )
    parser.add_argument("--bootstrap", required=True, help="host:port of a broker")
    parser.add_argument("--topic", required=True, help="topic to read from its beginning")
    parser.add_argument("--expect", type=int, required=True, help="records to read")
    parser.add_argument(
        "--stall", type=float, default=60.0, help="give up after this many seconds without input"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(read_all(args.bootstrap, args.topic, args.expect, args.stall))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
