"""A new deployment: workers join one group one after another while input flows, and partitions
get their first records (so have no committed offset) just as a worker joins. Every record must
still be handled: forwarded to the keyed topic when it is off its customer's partition, scored
where it is read when it is on it (see `streams.rebalance` for how Faust could lose them:
without it this test lost records in about half its runs).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from tests.integration.conftest import Worker, make_worker
from tests.integration.journeys import iso, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PARTITIONS = 16
ALL = list(range(PARTITIONS))


def customers_on(partition: int) -> tuple[list[str], list[str]]:
    """Customers whose records go to `partition`: two whose own partition it is (scored there),
    three whose own partition it is not (forwarded)."""
    partition_of = DefaultPartitioner()
    home: list[str] = []
    away: list[str] = []
    for i in range(10_000):
        customer = f"C-join-{partition}-{i}"
        mine = partition_of(customer.encode(), ALL, ALL) == partition
        (home if mine else away).append(customer)
        if len(home) >= 2 and len(away) >= 3:
            return home[:2], away[:3]
    raise AssertionError("no customer ids for partition")


CUSTOMERS = {p: customers_on(p) for p in ALL}
HOME = {p: home for p, (home, _) in CUSTOMERS.items()}
AWAY = {p: away for p, (_, away) in CUSTOMERS.items()}


def same_group(first: Worker, tmp: Path) -> Worker:
    spare = make_worker(first.bootstrap, tmp)  # for its port, data dir and log
    return Worker(
        bootstrap=first.bootstrap,
        env={**first.env, "CX_WEB_PORT": str(spare.port), "CX_DATA_DIR": spare.env["CX_DATA_DIR"]},
        log_path=spare.log_path,
        port=spare.port,
    )


class Input:
    """Valid events, a few per second on each open partition, from a thread."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.partitions: set[int] = set()
        self.forwarded: set[tuple[int, int]] = set()  # (partition, offset), acknowledged
        self.scored_here: Counter[str] = Counter()  # events per customer, acknowledged
        self.failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    async def _run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await producer.start()
        try:
            n = 0
            while not self._stop.is_set():
                pending = []
                for p in sorted(self.partitions):
                    customer = (HOME[p] + AWAY[p])[n % 5]
                    event = {
                        "event_id": f"evt-{uuid.uuid4().hex}",
                        "customer_id": customer,
                        "occurred_at": iso(time.time() - 60),
                        "type": "login",
                        "channel": "web",
                    }
                    sending = await producer.send(
                        self.topic, orjson.dumps(event), key=customer.encode(), partition=p
                    )
                    pending.append((customer, sending))
                for customer, sent in pending:
                    metadata = await sent
                    if customer in HOME[metadata.partition]:
                        self.scored_here[customer] += 1
                    else:
                        self.forwarded.add((metadata.partition, metadata.offset))
                n += 1
                await asyncio.sleep(0.1)
        except BaseException as exc:
            self.failure.append(exc)
        finally:
            await producer.stop()


@pytest.mark.timeout(600)
def test_workers_joining_while_input_starts_handle_every_record(
    bootstrap: str, tmp_path: Path
) -> None:
    first = make_worker(bootstrap, tmp_path / "w1")
    first.env.update({"CX_PARTITIONS": str(PARTITIONS), "CX_STANDBY_REPLICAS": "1"})
    workers = [first, same_group(first, tmp_path / "w2"), same_group(first, tmp_path / "w3")]
    for worker in workers:
        worker.log_path.parent.mkdir(parents=True, exist_ok=True)
    keyed = f"{first.env['CX_APP_ID']}.keyed"
    source = Input(bootstrap, first.topics["interactions"])
    try:
        first.start()
        # half the partitions get their first records as the second worker joins, the other
        # half as the third does
        source.partitions.update(range(PARTITIONS // 2))
        source.start()
        workers[1].start()
        source.partitions.update(range(PARTITIONS // 2, PARTITIONS))
        workers[2].start()
        time.sleep(20)  # input goes on while the group settles
        source.stop()
        assert not source.failure, source.failure
        assert len(source.forwarded) > 600, len(source.forwarded)
        assert sum(source.scored_here.values()) > 400, source.scored_here

        forwarded: set[tuple[int, int]] = set()
        scored: dict[str, int] = {}
        deadline = time.monotonic() + 120
        while True:
            for _, _, _, value in read_to_end(bootstrap, keyed):
                envelope = orjson.loads(value)
                if envelope.get("kind") == "interaction":
                    forwarded.add((envelope["src"][1], envelope["src"][2]))
            for key, _, _, value in read_to_end(bootstrap, first.topics["scores"]):
                customer = (key or b"").decode()
                scored[customer] = max(scored.get(customer, 0), orjson.loads(value)["event_count"])
            missing = source.forwarded - forwarded
            short = {c: n for c, n in source.scored_here.items() if scored.get(c, 0) < n}
            if not (missing or short) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert not missing, f"{len(missing)} of {len(source.forwarded)} never forwarded: " + str(
            sorted(missing)[:20]
        )
        assert not short, f"customers scored where read, events sent vs scored: {short}"
        assert all(worker.alive() for worker in workers)
    except BaseException:
        for i, worker in enumerate(workers, 1):
            print(f"--- worker {i} log ---\n{worker.log_tail(60)}")
        raise
    finally:
        source.stop()
        for worker in workers:
            worker.stop()
