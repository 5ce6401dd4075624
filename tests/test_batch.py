"""`streams.batch` and `streams.table`: a batch is done only when its output and then its state
writes are acknowledged. No broker: the customers table of a real (unstarted) app, whose
sends wait until the test acknowledges or fails them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.exceptions import PartitionsMismatch
from faust.types import TP

from streams.batch import Batch
from streams.outbox import Outbox
from streams.scoring.state import CustomerState
from streams.table import StateTable


class Kafka:
    """Stands in for the producer: each flush waits for the test's word."""

    def __init__(self) -> None:
        self.flushes: list[tuple[list[tuple[str, bytes | None, int | None]], asyncio.Future[Any]]]
        self.flushes = []

    async def send(self, records: list[Any]) -> dict[TP, int]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.flushes.append(([(r.topic, r.key, r.partition) for r in records], done))
        await done
        return {TP(r.topic, r.partition or 0): i for i, r in enumerate(records)}


def customers_table(monkeypatch: pytest.MonkeyPatch) -> tuple[StateTable, Kafka]:
    app = faust.App("cx-b", broker="kafka://127.0.0.1:1", autodiscover=False, env={},
                    Table=StateTable)  # fmt: skip
    table = app.Table("customers", default=None, key_type=str, value_type=bytes, partitions=2)
    assert isinstance(table, StateTable)
    kafka = Kafka()
    monkeypatch.setattr(Outbox, "_send_batched", lambda outbox, records: kafka.send(records))
    table._verify_source_topic_partitions = lambda topic: None  # type: ignore[method-assign]
    return table, kafka


async def settle_in_background(table: StateTable) -> asyncio.Task[None]:
    batch = Batch(table, CustomerState.from_bytes, table.app)
    batch.changed(CustomerState(customer_id="C-1"), TP("cx.interactions", 1))
    batch.outbox.add("cx.scores", b"C-1", b"{}")
    task = asyncio.ensure_future(batch.settle())
    for _ in range(5):
        await asyncio.sleep(0)
    return task


def test_settled_only_once_the_output_and_then_the_changelog_write_are_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def run() -> None:
        table, kafka = customers_table(monkeypatch)
        task = await settle_in_background(table)
        assert len(kafka.flushes) == 1 and "C-1" not in table  # no state before the output
        assert kafka.flushes[0][0] == [("cx.scores", b"C-1", None)]
        kafka.flushes[0][1].set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        changelog = table.changelog_topic_name
        assert kafka.flushes[1][0] == [(changelog, b'"C-1"', 1)]  # keyed as Faust keys it
        assert table.read("C-1", 1) is None  # the store only once the changelog has it
        assert not task.done()
        kafka.flushes[1][1].set_result(None)
        await asyncio.wait_for(task, 1)
        assert table.read("C-1", 1) is not None

    asyncio.run(run())


def test_a_changelog_write_kafka_refused_fails_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        table, kafka = customers_table(monkeypatch)
        task = await settle_in_background(table)
        kafka.flushes[0][1].set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        kafka.flushes[1][1].set_exception(RuntimeError("NotEnoughReplicas"))
        with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
            await asyncio.wait_for(task, 1)

    asyncio.run(run())


def test_output_kafka_refused_fails_the_batch_before_any_state_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def run() -> None:
        table, kafka = customers_table(monkeypatch)
        task = await settle_in_background(table)
        kafka.flushes[0][1].set_exception(RuntimeError("MessageSizeTooLarge"))
        with pytest.raises(RuntimeError, match="MessageSizeTooLarge"):
            await asyncio.wait_for(task, 1)
        assert len(kafka.flushes) == 1 and table.read("C-1", 1) is None

    asyncio.run(run())


def test_a_batch_reads_a_state_once_and_writes_it_once() -> None:
    app = faust.App("cx-b1", broker="kafka://127.0.0.1:1", autodiscover=False, env={},
                    Table=StateTable)  # fmt: skip
    table = app.Table("customers", default=None, key_type=str, value_type=bytes, partitions=2)
    reads: list[bytes] = []

    def decode(data: bytes) -> CustomerState:
        reads.append(data)
        return CustomerState.from_bytes(data)

    table.data["C-1"] = CustomerState(customer_id="C-1", event_count=3).to_bytes()
    batch = Batch(table, decode, app)  # type: ignore[arg-type]
    first = batch.load("C-1", 0)
    assert first is not None and first.event_count == 3
    first.event_count = 4
    batch.changed(first, TP("cx.interactions", 0))
    again = batch.load("C-1", 0)
    assert again is first and len(reads) == 1  # the batch's own copy, as it left it


def test_the_partition_check_waits_for_metadata_then_still_catches_a_mismatch() -> None:
    app = faust.App("cx-b2", broker="kafka://127.0.0.1:1", autodiscover=False, env={},
                    Table=StateTable)  # fmt: skip
    table = app.Table("customers", default=None, key_type=str, value_type=bytes, partitions=2)
    counts = {"in": 2, table.changelog_topic_name: 0}  # the changelog just created
    table.app.consumer = SimpleNamespace(topic_partitions=counts.get)  # type: ignore[assignment]
    table._verify_source_topic_partitions("in")  # not known yet: no verdict
    counts[table.changelog_topic_name] = 3
    with pytest.raises(PartitionsMismatch):
        table._verify_source_topic_partitions("in")
    counts[table.changelog_topic_name] = 2
    table._verify_source_topic_partitions("in")
