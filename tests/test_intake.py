"""`streams.intake`: input in batches keeps Faust's offset bookkeeping. No broker: the consumer
of a real (unstarted) app, fed records as aiokafka gives them."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import intake, transport


def consumer() -> Any:
    app = faust.App("t-intake", broker="kafka://127.0.0.1:1", autodiscover=False, env={})
    transport.install(app)
    c = app.consumer
    assert isinstance(c, intake.Consumer)
    app.topics._acking_topics.add("in")  # as the conductor marks a subscribed topic
    return c


def records(tp: TP, *offsets: int) -> list[ConsumerRecord[Any, Any]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, o, 0, 0, None, b"{}", None, 0, 2, ())
        for o in offsets
    ]


def test_a_fetch_is_cut_into_batches_each_partition_in_order() -> None:
    a, b = TP("in", 0), TP("in", 1)
    chunks = intake._chunks({a: records(a, 0, 1, 2), b: records(b, 5, 6)}, 2)
    assert [{tp: [r.offset for r in rs] for tp, rs in c.items()} for c in chunks] == [
        {a: [0, 1]},
        {a: [2], b: [5]},
        {b: [6]},
    ]


def test_handled_records_are_committed_up_to_a_gap_in_the_log() -> None:
    c = consumer()
    tp = TP("in", 0)

    async def run() -> list[int | None]:
        kept = await c._take_fresh(tp, records(tp, 0, 1, 2, 5, 6))  # 3-4 compacted away
        c._acknowledge({tp: kept})
        first = c._new_offset(tp)
        c._committed_offset[tp] = first  # what a commit of it leaves
        return [first, c._new_offset(tp)]

    # the gap is stepped over as it is for Faust's own acks (its gap holds the record after
    # it too, so the first commit stops one short)
    assert asyncio.run(run()) == [6, 7]


def test_records_before_the_read_offset_are_not_handled_twice() -> None:
    c = consumer()
    tp = TP("in", 0)

    async def run() -> list[int]:
        await c._take_fresh(tp, records(tp, 0, 1, 2))
        again = await c._take_fresh(tp, records(tp, 1, 2, 3))  # a fetch from before a seek
        return [r.offset for r in again]

    assert asyncio.run(run()) == [2, 3]  # Faust's rule: from the last record read on


def test_a_batch_being_handled_holds_a_revocation_until_it_is_settled() -> None:
    c = consumer()
    tp = TP("in", 0)
    release = asyncio.Event()
    seen: list[int] = []

    async def handler(batch: intake.Records) -> None:
        seen.append(len(c._unacked_messages))
        await release.wait()

    async def run() -> tuple[int, int, int | None]:
        handling = asyncio.ensure_future(c._handle(handler, {tp: records(tp, 0, 1)}))
        await asyncio.sleep(0)
        during = len(c._unacked_messages)  # what wait_empty waits for
        release.set()
        await handling
        return during, len(c._unacked_messages), c._new_offset(tp)

    assert asyncio.run(run()) == (1, 0, 2) and seen == [1]
