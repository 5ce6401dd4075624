"""Backpressure: a worker whose producer Kafka throttles (a client quota on its client id) and
a slow consumer of its alerts lose nothing.

The quota (`producer_byte_rate`) is set on the broker for the worker's own client id
(`CX_KAFKA_CLIENT_ID`), never on the default client entity: the broker is shared. It covers
everything the worker writes (keyed topic, score updates, alerts, changelog), so the alerts
topic gets no more than that either. An unthrottled worker (its own app id and topics) fed the
same events is the yardstick: the throttled one must end with the same /customers answers, the
same score updates and the same alerts, dead-letter nothing and never restart. The quota is
removed in any case.

Kafka's admin tools are Java: they run from the broker's jars (`make kafka-up` downloads them
to .cache/kafka/<version>/libs); without Java or the jars the test is skipped.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.conftest import make_worker
from tests.integration.journeys import interleaved, read_to_end, scored_customers, varied

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FULL = os.environ.get("CX_FAULTS_SCALE") == "full"
CUSTOMERS = 150 if FULL else 30
#: bytes per second the worker's producer may write: a small fraction of what it writes
#: unthrottled here, so the input backs up for a while
PRODUCER_BYTE_RATE = 20_000
#: the slow alerts reader: a quota of its own, a pause after every small poll, and once a pause
#: longer than its max.poll.interval, so the group drops it and it must come back and resume
CONSUMER_BYTE_RATE = 5_000
PAUSE_SECONDS = 2.0
TIMEOUT = 1200.0 if FULL else 280.0
ROOT = Path(__file__).resolve().parents[2]


# --- Kafka's admin tools -----------------------------------------------------------------------


def kafka_libs() -> Path:
    pom = (ROOT / "deploy/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>\s*([^<\s]+)\s*</kafka.version>", pom)
    assert version is not None
    return ROOT / ".cache/kafka" / version.group(1) / "libs"


def kafka_tool(bootstrap: str, main: str, *args: str) -> str:
    if shutil.which("java") is None or not kafka_libs().is_dir():
        pytest.skip("needs Java and Kafka's jars (make kafka-up downloads them)")
    done = subprocess.run(
        ["java", "-cp", f"{kafka_libs()}/*", main, "--bootstrap-server", bootstrap, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def set_quota(bootstrap: str, client_id: str, **quota: int) -> None:
    config = ",".join(f"{name}={value}" for name, value in quota.items())
    kafka_tool(
        bootstrap,
        "org.apache.kafka.tools.ConfigCommand",
        *("--alter", "--add-config", config),
        *("--entity-type", "clients", "--entity-name", client_id),
    )


def remove_quota(bootstrap: str, client_id: str, *names: str) -> None:
    kafka_tool(
        bootstrap,
        "org.apache.kafka.tools.ConfigCommand",
        *("--alter", "--delete-config", ",".join(names)),
        *("--entity-type", "clients", "--entity-name", client_id),
    )


def quotas(bootstrap: str, client_id: str) -> str:
    return kafka_tool(
        bootstrap,
        "org.apache.kafka.tools.ConfigCommand",
        *("--describe", "--entity-type", "clients", "--entity-name", client_id),
    )


def group_client_ids(bootstrap: str, group: str) -> set[str]:
    """The client ids of the consumer group's members, as the broker sees them."""
    out = kafka_tool(
        bootstrap,
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        *("--describe", "--members", "--group", group),
    )
    lines = [line.split() for line in out.splitlines() if line.strip()]
    header = next(i for i, cells in enumerate(lines) if "CLIENT-ID" in cells)
    column = lines[header].index("CLIENT-ID")
    return {cells[column] for cells in lines[header + 1 :] if len(cells) > column}


# --- reading -----------------------------------------------------------------------------------


def updates(bootstrap: str, topic: str) -> set[bytes]:
    """The topic's score updates without their wall-clock `updated_at`, as bytes."""
    out = set()
    for _key, _partition, _offset, value in read_to_end(bootstrap, topic):
        update = orjson.loads(value)
        del update["updated_at"]
        out.add(orjson.dumps(update, option=orjson.OPT_SORT_KEYS))
    return out


def alert_ids(bootstrap: str, topic: str) -> set[str]:
    return {orjson.loads(r[3])["alert_id"] for r in read_to_end(bootstrap, topic)}


class SlowReader(threading.Thread):
    """Reads a topic in a consumer group, a few records at a time with a pause after each
    poll, once pausing past max.poll.interval; commits what it has read; stops once it has
    every id in `wanted` or at `stop`."""

    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.client_id = bootstrap, topic, client_id
        self.ids: set[str] = set()
        self.records = 0
        self.paused_long = False
        self.wanted: set[str] | None = None
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._read())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.client_id}-group",
            client_id=self.client_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=3,
            max_partition_fetch_bytes=16 * 1024,
            max_poll_interval_ms=8000,
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        try:
            long_pause_done = False
            while not self.stop.is_set():
                if self.wanted is not None and self.wanted <= self.ids:
                    return
                batch = await consumer.getmany(timeout_ms=1000, max_records=3)
                for records in batch.values():
                    for record in records:
                        self.ids.add(orjson.loads(record.value)["alert_id"])
                        self.records += 1
                if batch:
                    await consumer.commit()
                if self.ids and not long_pause_done:
                    long_pause_done = True
                    await asyncio.sleep(12.0)  # past max.poll.interval: dropped from the group
                    self.paused_long = True
                else:
                    await asyncio.sleep(PAUSE_SECONDS)
        finally:
            await consumer.stop()


@pytest.mark.timeout(4 * TIMEOUT)
def test_a_throttled_producer_and_a_slow_alerts_reader_lose_nothing(
    bootstrap: str, tmp_path: Path
) -> None:
    seed = os.environ.get("CX_FAULTS_SEED") or uuid.uuid4().hex[:8]
    journeys = [varied(f"{seed}-{i}", 66.0) for i in range(CUSTOMERS)]
    events = interleaved([j.events for j in journeys], f"{seed}-mix")
    expected = {j.customer_id: len(j.events) for j in journeys}
    print(f"seed {seed}: {len(events)} events of {CUSTOMERS} customers")

    throttled = make_worker(bootstrap, tmp_path / "throttled")
    reference = make_worker(bootstrap, tmp_path / "reference")
    client_id = f"cxq-{uuid.uuid4().hex[:10]}"
    throttled.env["CX_KAFKA_CLIENT_ID"] = client_id
    reader_id = f"{client_id}-reader"
    for worker in (throttled, reference):
        worker.log_path.parent.mkdir(parents=True, exist_ok=True)
    reader = SlowReader(bootstrap, throttled.topics["alerts"], reader_id)
    quotas_set: list[tuple[str, str]] = []
    started = time.monotonic()
    try:
        throttled.start()
        reference.start()
        pid = throttled.process.pid if throttled.process else None
        assert group_client_ids(bootstrap, throttled.env["CX_APP_ID"]) == {client_id}
        quotas_set.append((client_id, "producer_byte_rate"))
        set_quota(bootstrap, client_id, producer_byte_rate=PRODUCER_BYTE_RATE)
        quotas_set.append((reader_id, "consumer_byte_rate"))
        set_quota(bootstrap, reader_id, consumer_byte_rate=CONSUMER_BYTE_RATE)
        assert f"producer_byte_rate={PRODUCER_BYTE_RATE}" in quotas(bootstrap, client_id)
        reader.start()

        sent_at = time.monotonic()
        throttled.send_events(events)
        reference.send_events(events)
        want = scored_customers(reference, expected, TIMEOUT)
        got = scored_customers(throttled, expected, TIMEOUT)
        took = time.monotonic() - sent_at
        for customer, body in got.items():
            assert body == want[customer], customer

        # what the throttled worker wrote in that time, and so at what rate (for the record)
        written = sum(
            len(r[3]) + len(r[0] or b"")
            for topic in (
                throttled.topics["scores"],
                throttled.topics["alerts"],
                f"{throttled.env['CX_APP_ID']}.keyed",
                f"{throttled.env['CX_APP_ID']}-customers-changelog",
            )
            for r in read_to_end(bootstrap, topic)
        )
        print(
            f"throttled worker: every event scored {took:.0f} s after sending; it wrote "
            f"{written} bytes, {written / took:.0f} B/s against a quota of {PRODUCER_BYTE_RATE}"
        )
        # the quota did bite: with far more to write than a burst, the worker wrote no faster
        # than the quota allows (only an unthrottled worker could fail this, however slow
        # the machine)
        assert written > 20 * PRODUCER_BYTE_RATE
        assert written / took < 2 * PRODUCER_BYTE_RATE

        # nothing lost or repeated differently: the same score updates, the same alerts
        assert updates(bootstrap, throttled.topics["scores"]) == updates(
            bootstrap, reference.topics["scores"]
        )
        want_alerts = alert_ids(bootstrap, reference.topics["alerts"])
        assert want_alerts, "no alerts to check: the journeys raise none"
        assert alert_ids(bootstrap, throttled.topics["alerts"]) == want_alerts
        assert read_to_end(bootstrap, throttled.topics["dlq"]) == []

        # the slow reader gets every alert too, in the end
        reader.wanted = want_alerts
        reader.join(timeout=TIMEOUT)
        assert reader.error is None, reader.error
        assert not reader.is_alive(), f"slow reader has {len(reader.ids)} of {len(want_alerts)}"
        assert reader.ids == want_alerts
        assert reader.paused_long
        print(
            f"slow reader: {len(reader.ids)} alerts ({reader.records} records read) "
            f"{time.monotonic() - sent_at:.0f} s after sending"
        )

        assert throttled.alive() and throttled.process is not None
        assert throttled.process.pid == pid  # never restarted
        assert throttled.get("/healthz")[0] == 200
    except BaseException:
        for name, worker in (("throttled", throttled), ("reference", reference)):
            print(f"--- {name} worker log ---\n{worker.log_tail(60)}")
        raise
    finally:
        reader.stop.set()
        try:
            for entity, name in quotas_set:  # even if setting it failed half-way
                remove_quota(bootstrap, entity, name)
        finally:
            throttled.stop()
            reference.stop()
            print(f"took {time.monotonic() - started:.0f} s")
