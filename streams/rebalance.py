"""Input that arrives while a rebalance settles must be handled, not dropped.

Faust (0.15, with aiokafka 0.14) relies on "seek to the committed offset" after a rebalance to
read again whatever it threw away on the way, and loses records three ways when that is not
enough. What is lost is gone for good: Faust's commits step over the hole (without a committed
offset it does not look for one; with one it lets a hole of one record through, and takes a jump
in the offsets it reads for a compacted stretch of the log), so the worker logs nothing and
nothing is dead-lettered. Seen with three workers joining a group while input flowed: records
lost in about half the runs, on never-committed partitions and committed ones alike.

1. The end of the recovery resumes the stream partitions, awaits `perform_seek()` (one
   committed-offset request per partition: often hundreds of milliseconds) and only then calls
   `app.flow_control.resume()`, which empties every stream queue. Flow control is already
   active (the recovery resumed it to read the changelogs), so records fetched during the wait
   go into the queues and are cleared; a partition seeked early in the wait has its position
   past them by then. Remedy: suspend flow control when Faust announces the end of the recovery
   (`app.on_rebalance_complete`, sent just before it resumes the stream partitions). A record
   fetched during the seek waits in Faust's conductor, ahead of the queue, and enters the queue
   after the clear, in order. The stream queues are empty at that point (stream partitions stay
   paused from the assignment on), so no stream meets an event while flow is suspended (it
   would skip and ack it). The worker's input takes no queue (`streams.intake`), but a batch
   fetched meanwhile waits for flow control the same way, and is handled after the seek.
2. aiokafka's `Fetcher.fetched_records(partitions)` returns every partition's records when
   `partitions` is empty, and Faust hands it its live set of unpaused partitions, which the
   recovery can empty while a fetch waits (it pauses the changelog partitions it has read while
   the stream partitions are still paused). The stream records drained then are not
   delivered (they are not in the set), yet the fetch position has moved past them; the seek
   brings back only committed partitions, and not reliably (records fetched before it can
   still be delivered after it, and raise the read offset past those it brings back). Remedy:
   fetch with a filter that stays a filter when the set empties.
3. aiokafka seeks only partitions with a committed offset, so a partition the group has never
   committed (a new deployment, input arriving as workers join) is not read again from where
   Faust dropped records (those a fetch returns while flow is stopped, for one: Faust discards
   them and seeks back). Remedy: seek those to their beginning, where
   `consumer_auto_offset_reset="earliest"` starts them anyway.
   Records read twice are what at-least-once allows; the scorer drops repeated `event_id`s.

`Consumer` holds remedies 2 and 3 (`streams.transport` runs the app on it) and `install(app)`
adds remedy 1.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["Consumer", "install"]

log = logging.getLogger(__name__)


class _OnlyThese:
    """`partitions` for aiokafka's `fetched_records`: membership in Faust's live set of unpaused
    partitions, and truthy even when that set is empty (empty would mean every partition)."""

    __slots__ = ("_tps",)

    def __init__(self, tps: Container[Any]) -> None:
        self._tps = tps

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self._tps


class AIOKafkaConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's, with remedies 2 and 3 (named as Faust's: its log lines keep their label)."""

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        partitions = _OnlyThese(active_partitions) if active_partitions is not None else None
        return await super()._fetch_records(
            consumer,
            partitions,  # type: ignore[arg-type]  # aiokafka only tests truth and membership
            timeout=timeout,
            max_records=max_records,
        )

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed = await super().seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        never_committed = [
            tp
            for tp, offset in committed.items()
            if (offset is None or offset <= 0) and tp.topic not in changelogs
        ]
        if never_committed:
            await self.seek_to_beginning(*never_committed)
            log.debug("no committed offset, read from the beginning: %s", never_committed)
        return committed


class Consumer(faust_aiokafka.Consumer):
    """Faust's, with the thread above (named as Faust's, for its log lines too)."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return AIOKafkaConsumerThread(self, loop=self.loop, beacon=self.beacon)


def install(app: faust.App) -> None:
    """Put remedy 1 in place on a new `app`."""

    async def on_rebalance_complete(_: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        app.flow_control.suspend()  # until Faust resumes it, after its seek (remedy 1)

    app.on_rebalance_complete.connect(on_rebalance_complete)
