"""`streams.batch` and `streams.table`: a batch is done only when its output and then its state
writes are acknowledged. No broker: the customers table of a real (unstarted) app, whose
changelog sends stay pending until the test acknowledges or fails them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.exceptions import PartitionsMismatch
from faust.types import FutureMessage

from streams.batch import Batch
from streams.scoring.state import CustomerState
from streams.table import StateTable


def customers_table() -> tuple[StateTable, list[FutureMessage]]:
    app = faust.App("cx-b", broker="kafka://127.0.0.1:1", autodiscover=False, env={},
                    Table=StateTable)  # fmt: skip
    table = app.Table("customers", default=None, key_type=str, value_type=bytes, partitions=2)
    assert isinstance(table, StateTable)
    changelog: list[FutureMessage] = []
    sent = table.send_changelog

    def send_changelog(*args: Any, **kwargs: Any) -> FutureMessage:
        changelog.append(sent(*args, **kwargs))  # into the producer's buffer: never sent here
        return changelog[-1]

    table.send_changelog = send_changelog  # type: ignore[method-assign]
    table.partition_for_key = lambda key: 0  # type: ignore[method-assign]
    return table, changelog


async def settle_in_background(
    table: StateTable, output: asyncio.Future[Any]
) -> tuple[Batch, asyncio.Task[None]]:
    batch = Batch(table, lambda customer_id: None, lambda event: None)
    batch.changed(CustomerState(customer_id="C-1"), object())
    batch.sent(output)
    task = asyncio.ensure_future(batch.settle())
    for _ in range(5):
        await asyncio.sleep(0)
    return batch, task


def test_settled_only_once_the_output_and_then_the_changelog_write_are_acknowledged() -> None:
    async def run() -> None:
        table, changelog = customers_table()
        output: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        _, task = await settle_in_background(table, output)
        assert not task.done() and changelog == []  # no state written before the output is in
        output.set_result("acknowledged")
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(changelog) == 1 and "C-1" in table  # written, but not yet in Kafka
        assert not task.done()
        changelog[0].set_result(None)  # type: ignore[arg-type]
        await asyncio.wait_for(task, 1)

    asyncio.run(run())


def test_a_changelog_write_kafka_refused_fails_the_batch() -> None:
    async def run() -> None:
        table, changelog = customers_table()
        output: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        output.set_result("acknowledged")
        _, task = await settle_in_background(table, output)
        changelog[0].set_exception(RuntimeError("NotEnoughReplicas"))
        with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
            await asyncio.wait_for(task, 1)

    asyncio.run(run())


def test_the_partition_check_waits_for_metadata_then_still_catches_a_mismatch() -> None:
    table, _ = customers_table()
    counts = {"in": 2, table.changelog_topic_name: 0}  # the changelog just created
    table.app.consumer = SimpleNamespace(topic_partitions=counts.get)  # type: ignore[assignment]
    table._verify_source_topic_partitions("in")  # not known yet: no verdict
    counts[table.changelog_topic_name] = 3
    with pytest.raises(PartitionsMismatch):
        table._verify_source_topic_partitions("in")
    counts[table.changelog_topic_name] = 2
    table._verify_source_topic_partitions("in")
