"""A new deployment: workers join one group one after another while input flows, and partitions
get their first records (so have no committed offset) just as a worker joins. Every record must
still be forwarded to the keyed topic (see `streams.rebalance` for how Faust could lose them:
without it this test lost records in about half its runs).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.conftest import Worker, make_worker
from tests.integration.journeys import iso, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PARTITIONS = 16


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
        self.sent: set[tuple[int, int]] = set()  # (partition, offset), acknowledged
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
                    customer = f"C-join-{p}-{n % 5}"
                    event = {
                        "event_id": f"evt-{uuid.uuid4().hex}",
                        "customer_id": customer,
                        "occurred_at": iso(time.time() - 60),
                        "type": "login",
                        "channel": "web",
                    }
                    pending.append(
                        await producer.send(
                            self.topic, orjson.dumps(event), key=customer.encode(), partition=p
                        )
                    )
                for sent in pending:
                    metadata = await sent
                    self.sent.add((metadata.partition, metadata.offset))
                n += 1
                await asyncio.sleep(0.1)
        except BaseException as exc:
            self.failure.append(exc)
        finally:
            await producer.stop()


@pytest.mark.timeout(600)
def test_workers_joining_while_input_starts_forward_every_record(
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
        assert len(source.sent) > 1000, len(source.sent)

        forwarded: set[tuple[int, int]] = set()
        deadline = time.monotonic() + 120
        while True:
            for _, _, _, value in read_to_end(bootstrap, keyed):
                envelope = orjson.loads(value)
                if envelope.get("kind") == "interaction":
                    forwarded.add((envelope["src"][1], envelope["src"][2]))
            missing = source.sent - forwarded
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert not missing, f"{len(missing)} of {len(source.sent)} never forwarded: " + str(
            sorted(missing)[:20]
        )
        assert all(worker.alive() for worker in workers)
    except BaseException:
        for i, worker in enumerate(workers, 1):
            print(f"--- worker {i} log ---\n{worker.log_tail(60)}")
        raise
    finally:
        source.stop()
        for worker in workers:
            worker.stop()
