"""Input in batches, below Faust's stream: each fetch's records of the input topics go to one
handler at once, and are acknowledged to Faust's offset bookkeeping when it returns.

Faust delivers a record to an agent through a chain of per-record steps (a message object,
a task per delivery, the conductor, a queue, the stream and its acks), about 60 µs a record,
several times what scoring it costs. So the worker's consumer keeps everything of Faust's
except that chain: the consumer group, the assignment and the rebalance callbacks, the
recovery of the table, flow control, the read offsets with their gaps, the commits (the
offsets a handler has acknowledged, through Faust's own ack lists), and `wait_empty`, which a
revocation awaits (a batch being handled counts as an unacknowledged message, so no partition
changes hands in the middle of one). Changelog records, read while Faust recovers the table or
keeps standby copies, go to the table in bulk (`streams.restore`); anything else takes Faust's
way.

The handler gets a fetch's records by partition, in offset order, at most `batch_size` at a
time. It must have settled their effects when it returns (see `streams.batch`): an exception
out of it stops the worker before the records are acknowledged.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any

from faust.types import TP, ConsumerMessage
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from streams import rebalance, restore

__all__ = [
    "BatchHandler",
    "Consumer",
    "Intake",
    "Records",
    "attach",
    "current_source",
    "set_source",
]

log = logging.getLogger(__name__)

#: A fetch's records of the input topics: aiokafka `ConsumerRecord`s by partition, in order.
Records = Mapping[TP, Sequence[Any]]
BatchHandler = Callable[[Records], Awaitable[None]]

_source: contextvars.ContextVar[TP | None] = contextvars.ContextVar("cx_source", default=None)


def current_source() -> TP | None:
    """The input partition whose records the handler is working on (see `set_source`)."""
    return _source.get()


def set_source(tp: TP | None) -> None:
    """Everything sent from here on is the effect of input from `tp` (exactly-once uses it to
    pick the transaction: `streams.transactions`)."""
    _source.set(tp)


@dataclass(frozen=True, slots=True)
class Intake:
    """Records of `topics` go to `handler`, at most `size` at a time."""

    topics: frozenset[str]
    size: int
    handler: BatchHandler


def attach(app: Any, topics: frozenset[str], size: int, handler: BatchHandler) -> None:
    """Make the worker's consumer hand the records of `topics` to `handler` (the app must run
    on `streams.transport`)."""
    app.transport.intake = Intake(topics, size, handler)


class Consumer(rebalance.Consumer):
    """Faust's consumer (with the rebalance remedies), handing input to a batch handler."""

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's `getmany`, but records of the batch topics go to the handler first; the
        rest is yielded for Faust's per-message delivery, as Faust does."""
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: seek back to the committed offsets
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("could not seek to the committed offsets: %r", exc)
            return
        intake: Intake | None = getattr(self.transport, "intake", None)
        batch_topics = intake.topics if intake is not None else frozenset()
        mine: dict[TP, Sequence[Any]] = {}
        rest: dict[TP, Any] = {}  # aiokafka gives lists
        buffered = self._buffered_partitions
        for tp, tp_records in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            if tp.topic in batch_topics:
                mine[tp] = tp_records
            else:
                rest[tp] = tp_records
        if mine and intake is not None:
            await self._deliver(intake, mine, generation)
        if rest:
            rest = restore.apply_changelogs(self.app, rest)
        if not rest:
            return
        to_message = self._to_message
        for tp, record in self.scheduler.iterate(rest):
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            yield tp, to_message(tp, record)

    async def _deliver(
        self, intake: Intake, records: dict[TP, Sequence[Any]], generation: int
    ) -> None:
        # Flow control is suspended while a rebalance settles (see streams.rebalance, remedy 1):
        # wait as Faust's conductor does; a batch of an older generation is dropped, as Faust
        # drops the rest of a fetch (the new assignment seeks back to the committed offsets).
        await self.app.flow_control.acquire()
        if self.app.consumer_generation_id != generation or not self.flow_active:
            return
        fresh: dict[TP, Sequence[Any]] = {}
        for tp, tp_records in records.items():
            kept = await self._take_fresh(tp, tp_records)
            if kept:
                fresh[tp] = kept
        if not fresh:
            return
        for chunk in _chunks(fresh, intake.size):
            await self._handle(intake.handler, chunk)

    async def _take_fresh(self, tp: TP, tp_records: Sequence[Any]) -> Sequence[Any]:
        """Faust's read-offset rule: drop records before the read offset, note gaps in the
        offsets (compacted stretches, transaction markers) so commits can step over them."""
        read_offset = self._read_offset[tp]
        first, last = tp_records[0].offset, tp_records[-1].offset
        if read_offset is not None and first < read_offset:
            tp_records = [r for r in tp_records if r.offset >= read_offset]
            if not tp_records:
                return tp_records
            first = tp_records[0].offset
        if last - first + 1 != len(tp_records) or (read_offset and first - read_offset > 1):
            previous = read_offset
            for record in tp_records:
                offset = record.offset
                if (
                    previous
                    and offset - previous > 1
                    and self.app.topics.acks_enabled_for(tp.topic)
                ):
                    await self._add_gap(tp, previous + 1, offset)
                previous = offset
        self._read_offset[tp] = last
        return tp_records

    async def _handle(self, handler: BatchHandler, records: dict[TP, Sequence[Any]]) -> None:
        # A stand-in for the batch in Faust's set of unacknowledged messages: a revocation
        # waits for it (`wait_empty`), and so for the batch to be settled.
        tp, tp_records = next(iter(records.items()))
        last = tp_records[-1]
        pending = ConsumerMessage(
            tp.topic, tp.partition, last.offset, 0.0, 0, None, None, None, None, 0, 0, tp
        )
        self._unacked_messages.add(pending)
        try:
            await handler(records)
            self._acknowledge(records)
        finally:
            self._unacked_messages.discard(pending)
            notify(self._waiting_for_ack)
        now = monotonic()
        inbound = self.app.monitor.stream_inbound_time  # Faust's "stream idle" check reads it
        for tp in records:
            inbound[tp] = now
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()

    def _acknowledge(self, records: Mapping[TP, Sequence[Any]]) -> None:
        """Faust's `ack` for every record handled, in bulk."""
        with ack_lock:
            for tp, tp_records in records.items():
                if not self.app.topics.acks_enabled_for(tp.topic):
                    continue
                committed = self._committed_offset[tp]
                acked_index = self._acked_index[tp]
                offsets = [
                    r.offset
                    for r in tp_records
                    if (committed is None or r.offset >= committed) and r.offset not in acked_index
                ]
                acked_index.update(offsets)
                self._acked[tp].extend(offsets)
                self._n_acked += len(offsets)


def _chunks(records: dict[TP, Sequence[Any]], size: int) -> list[dict[TP, Sequence[Any]]]:
    """`records` cut into batches of at most `size` records, each partition's in order."""
    total = sum(len(rs) for rs in records.values())
    if total <= size:
        return [records]
    chunks: list[dict[TP, Sequence[Any]]] = []
    chunk: dict[TP, Sequence[Any]] = {}
    room = size
    for tp, tp_records in records.items():
        start = 0
        while start < len(tp_records):
            piece = tp_records[start : start + room]
            chunk[tp] = piece
            start += len(piece)
            room -= len(piece)
            if room == 0:
                chunks.append(chunk)
                chunk, room = {}, size
    if chunk:
        chunks.append(chunk)
    return chunks
