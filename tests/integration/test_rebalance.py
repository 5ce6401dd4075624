"""Two workers in one consumer group, then one killed (SIGKILL) mid-stream: its partitions move
to the survivor, which resumes from the changelog with the right state.

The yardstick is an uninterrupted single worker (its own app id and topics) fed the same
messages: each customer's events reach both in the same order, so every customer must end
with the very same /customers/{id} answer (history and drivers included) and the same alerts
(by `alert_id`, duplicates from replays dropped). Journeys are shorter than the shortest
silence, so no alert depends on a worker's event-time clock, which is per worker.

"A customer's score is never computed by two workers at once" is checked on the group's scores
topic: each update of a customer, in offset order, is the yardstick's update with the same
event_count, byte for byte but `updated_at`. A second worker scoring a customer from a state
of its own (stale, or missing events) would publish an update the yardstick never did. What
at-least-once allows, and only after the kill, is the survivor publishing again updates the
dead worker had published (it re-reads what the dead worker had not committed): those are
exact repeats of earlier updates, so event_count only goes back to repeat what was.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.conftest import Worker, make_worker
from tests.integration.journeys import (
    Journey,
    interleaved,
    read_to_end,
    scored_customers,
    varied,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FULL = os.environ.get("CX_FAULTS_SCALE") == "full"
CUSTOMERS = 1500 if FULL else 200
PARTITIONS = "6"
SEED = os.environ.get("CX_FAULTS_SEED") or uuid.uuid4().hex[:8]
SPAN_HOURS = 66.0  # shorter than the lateness and than the shortest silence (72 h each)
#: generous: the group notices a SIGKILLed member only after its session timeout (60 s)
SETTLE_TIMEOUT = 900.0 if FULL else 240.0

Update = dict[str, Any]


# --- reading -----------------------------------------------------------------------------


def updates_by_customer(bootstrap: str, topic: str) -> dict[str, list[tuple[int, int, Update]]]:
    """Each customer's score updates in offset order (one customer, one partition), with
    their partition and offset."""
    out: dict[str, list[tuple[int, int, Update]]] = {}
    for key, partition, offset, value in read_to_end(bootstrap, topic):
        assert key is not None
        update = orjson.loads(value)
        del update["updated_at"]  # wall clock, the one field a replay changes
        out.setdefault(key.decode(), []).append((partition, offset, update))
    return out


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async def run() -> dict[int, int]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.1)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            return {tp.partition: offset for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(run())


def alert_set(bootstrap: str, topic: str) -> set[tuple[str, str, str]]:
    return {
        (a["customer_id"], a["kind"], a["alert_id"])
        for a in (orjson.loads(r[3]) for r in read_to_end(bootstrap, topic))
    }


def metric(worker: Worker, name: str) -> float:
    """A label-less metric of the worker's /metrics (0 if it does not answer)."""
    status, text = worker.get("/metrics")
    if status != 200:
        return 0.0
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


# --- the input and the yardstick -------------------------------------------------------------


class Story:
    def __init__(self) -> None:
        self.journeys: list[Journey] = [varied(f"{SEED}-{i}", SPAN_HOURS) for i in range(CUSTOMERS)]
        # every customer's events in event-time order, customers interleaved at random
        self.events = interleaved([j.events for j in self.journeys], f"{SEED}-mix")
        self.expected = {j.customer_id: len(j.events) for j in self.journeys}
        self.bodies: dict[str, Any] = {}
        self.updates: dict[str, list[Update]] = {}  # by event_count - 1
        self.alerts: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="module")
def story(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Story:
    """The input, and what one uninterrupted worker makes of it."""
    print(f"seed {SEED}")
    story = Story()
    reference = make_worker(bootstrap, tmp_path_factory.mktemp("reference"))
    reference.env["CX_PARTITIONS"] = PARTITIONS
    started = time.monotonic()
    reference.start()
    try:
        reference.send_events(story.events)
        story.bodies = scored_customers(reference, story.expected, SETTLE_TIMEOUT)
        deadline = time.monotonic() + 120
        while True:  # every update published (one per event, as nothing failed)
            story.updates = {
                c: [u for _, _, u in us]
                for c, us in updates_by_customer(bootstrap, reference.topics["scores"]).items()
            }
            counts = {c: len(u) for c, u in story.updates.items()}
            if counts == story.expected or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert counts == story.expected
        time.sleep(2)  # the last alerts go out right after the last updates
        story.alerts = alert_set(bootstrap, reference.topics["alerts"])
    except BaseException:
        print(reference.log_tail())
        raise
    finally:
        reference.stop()
    print(
        f"reference: {len(story.events)} events of {CUSTOMERS} customers, "
        f"{len(story.alerts)} alerts, {time.monotonic() - started:.0f} s"
    )
    return story


# --- the test ------------------------------------------------------------------------------


@pytest.mark.timeout(3 * SETTLE_TIMEOUT)
@pytest.mark.parametrize("standby", [0, 1])
def test_the_survivor_of_a_killed_worker_ends_with_the_uninterrupted_workers_state(
    bootstrap: str, tmp_path: Path, story: Story, standby: int
) -> None:
    first = make_worker(bootstrap, tmp_path / "first")
    first.env.update({"CX_PARTITIONS": PARTITIONS, "CX_STANDBY_REPLICAS": str(standby)})
    spare = make_worker(bootstrap, tmp_path / "second")  # for its port, data dir and log
    second = Worker(
        bootstrap=bootstrap,
        env={**first.env, "CX_WEB_PORT": str(spare.port), "CX_DATA_DIR": spare.env["CX_DATA_DIR"]},
        log_path=spare.log_path,
        port=spare.port,
    )
    for worker in (first, second):
        worker.log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        first.start()
        second.start()

        # The input starts as soon as both answer /healthz (the first may still be settling
        # the join) and goes out in slices from another thread: the first half quickly, the
        # rest spread over longer than the group takes to notice the kill (its session
        # timeout, 60 s), so events keep coming before, during and after the takeover.
        step = max(1, len(story.events) // 40)
        slices = [story.events[i : i + step] for i in range(0, len(story.events), step)]
        half = len(slices) // 2
        half_sent, sent = threading.Event(), threading.Event()
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                for i, part in enumerate(slices):
                    first.send_events(part)
                    if i + 1 == half:
                        half_sent.set()
                    time.sleep(0.25 if i < half else 80 / (len(slices) - half))
            except BaseException as exc:  # reported by the test thread
                failure.append(exc)
            finally:
                half_sent.set()
                sent.set()

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()

        # kill the first worker mid-stream: half the input out, both workers scoring
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not (
            half_sent.is_set()
            and metric(first, "cx_score_updates_total") >= 1
            and metric(second, "cx_score_updates_total") >= 1
        ):
            assert time.monotonic() < deadline, "the group did not start scoring"
            assert first.alive() and second.alive(), first.log_tail() + second.log_tail()
            time.sleep(0.2)
        assert not failure, failure
        scored = {
            "first": metric(first, "cx_score_updates_total"),
            "second": metric(second, "cx_score_updates_total"),
        }
        tracked_before = metric(second, "cx_customers_tracked")
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        first.process = None
        killed_at = time.monotonic() - started
        before_kill = end_offsets(bootstrap, first.topics["scores"])
        print(
            f"standby {standby}: killed the first worker at {killed_at:.0f} s, "
            f"producer {'done' if sent.is_set() else 'still sending'}; updates so far "
            f"first {scored['first']:.0f}, second {scored['second']:.0f}; "
            f"second tracked {tracked_before:.0f} customers"
        )
        producer.join(timeout=SETTLE_TIMEOUT)
        assert not failure, failure

        bodies = scored_customers(second, story.expected, SETTLE_TIMEOUT)
        print(f"survivor settled at {time.monotonic() - started:.0f} s")
        assert second.alive()
        assert metric(second, "cx_customers_tracked") == CUSTOMERS  # it has every partition
        for customer, body in bodies.items():
            assert body == story.bodies[customer], customer

        # the scores topic: only the yardstick's updates, each customer's in order but for
        # repeats of earlier ones
        deadline = time.monotonic() + 120
        while True:
            updates = updates_by_customer(bootstrap, first.topics["scores"])
            if {c: len({u["event_count"] for _, _, u in us}) for c, us in updates.items()} == (
                story.expected
            ) or (time.monotonic() > deadline):
                break
            time.sleep(1)
        repeats = 0
        for customer, mine in updates.items():
            theirs = story.updates[customer]
            highest = 0
            for partition, offset, update in mine:
                count = update["event_count"]
                assert update == theirs[count - 1], (customer, count)
                if count <= highest:
                    repeats += 1
                    assert offset >= before_kill[partition], (customer, count, "repeated early")
                else:
                    assert count == highest + 1, (customer, "skipped", highest + 1)
                highest = max(highest, count)
            assert highest == story.expected[customer], customer

        alerts = alert_set(bootstrap, first.topics["alerts"])
        deadline = time.monotonic() + 60
        while alerts != story.alerts and time.monotonic() < deadline:
            time.sleep(2)
            alerts = alert_set(bootstrap, first.topics["alerts"])
        assert alerts == story.alerts, (alerts - story.alerts, story.alerts - alerts)
        print(
            f"standby {standby}: {repeats} repeated score updates after the kill, "
            f"{len(alerts)} alerts as the reference; took {time.monotonic() - started:.0f} s"
        )
    except BaseException:
        for name, worker in (("first", first), ("second", second)):
            print(f"--- {name} worker log ---\n{worker.log_tail(80)}")
        raise
    finally:
        first.stop()
        second.stop()
