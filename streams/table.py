"""The customers table: Faust's Table, with changelog writes a batch can wait for.

Faust sends a table write to its changelog through the producer's buffer, later, from another
task, and its commit does not wait for that buffer to empty under exactly-once (nor, under
at-least-once, for longer than 0.1 s per record). Offsets could then be committed for events
whose new state never reached the changelog: a crash right after loses that state for good.
`Batch.settle` waits for `changelog_acknowledged()` before its events are acknowledged, so an
offset is committed only once the state it stands for is in Kafka (in the same transaction,
under exactly-once).

Faust also checks, at a topic's first write, that the topic an event came from has as many
partitions as the changelog. Just after it created the changelog, its consumer's metadata can
give the changelog 0 partitions, and Faust took that for a mismatch and stopped the worker at
its first event; the check waits here until both counts are known.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import FutureMessage

__all__ = ["StateTable"]


class StateTable(faust.Table):  # type: ignore[type-arg]
    """A `faust.Table` that keeps the changelog sends it has not seen acknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unacknowledged: list[FutureMessage] = []

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> FutureMessage:
        sent = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        self._unacknowledged.append(sent)
        return sent

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        consumer = self.app.consumer
        known = (
            consumer.topic_partitions(source_topic),
            consumer.topic_partitions(self.changelog_topic_name),
        )
        if all(known):  # 0 is "not in the metadata yet" here, as None is
            super()._verify_source_topic_partitions(source_topic)

    async def changelog_acknowledged(self) -> None:
        """Wait until Kafka has acknowledged every changelog record sent so far; raises what a
        failed send raised."""
        pending, self._unacknowledged = self._unacknowledged, []
        if pending:
            await asyncio.gather(*pending)
