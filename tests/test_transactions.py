"""`streams.transactions`: under exactly-once, what an event causes goes into the transaction
that commits the event's offset. No broker: the transaction manager on a real (unstarted) app
with a producer that records what it is asked to send."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP

from streams import intake, transport
from streams.transactions import SourceTransactions


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, str | None]] = []

    async def send(self, topic: str, key: Any, value: Any, partition: int | None, *args: Any,
                   transactional_id: str | None = None) -> None:  # fmt: skip
        self.sent.append((topic, partition, transactional_id))


def manager() -> tuple[SourceTransactions, RecordingProducer]:
    app = faust.App("cx-t", broker="kafka://127.0.0.1:1", autodiscover=False, env={})
    transport.install(app)
    # topic groups as Faust's assignor hands them out: one per partition count
    app.assignor._topic_groups = {"interactions": 1, "keyed": 0, "cx-t-customers-changelog": 0}
    # what Faust's own choice needs: the destination partition of a record
    consumer = SimpleNamespace(key_partition=lambda topic, key, partition: 6)
    producer = RecordingProducer()
    tm = SourceTransactions(app.transport, consumer=consumer, producer=producer)  # type: ignore[arg-type]
    assert isinstance(tm, app.transport.TransactionManager)  # the worker's transport uses it
    return tm, producer


def handling(topic: str, partition: int) -> None:
    intake.set_source(TP(topic, partition))


def test_a_re_keyed_record_goes_in_the_transaction_of_the_event_it_came_from() -> None:
    async def run() -> list[Any]:
        tm, producer = manager()
        handling("interactions", 3)  # read from interactions 3, sent to keyed 6
        await tm.send("keyed", b"C-1", b"{}", None, None, None)
        await tm.send("cx-scores", b"C-1", b"{}", None, None, None)
        return producer.sent

    assert asyncio.run(run()) == [
        ("keyed", None, "cx-t-1-3"),  # the transaction that commits interactions 3's offset
        ("cx-scores", None, "cx-t-1-3"),  # an output topic the consumer has no metadata for
    ]


def test_a_changelog_write_sent_later_goes_in_the_transaction_of_its_partition() -> None:
    async def run() -> list[Any]:
        tm, producer = manager()  # Faust sends table writes from its buffer: no current source
        tm.app.Table("customers", partitions=8)
        await tm.send("cx-t-customers-changelog", b"C-1", b"{}", 6, None, None)
        return producer.sent

    assert asyncio.run(run()) == [("cx-t-customers-changelog", 6, "cx-t-0-6")]


def test_a_timers_tick_goes_out_at_once_in_no_transaction() -> None:
    async def run() -> list[Any]:
        tm, producer = manager()
        await tm.send("keyed", None, b'{"kind": "tick"}', 6, None, None)
        return producer.sent

    assert asyncio.run(run()) == [("keyed", 6, None)]
