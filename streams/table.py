"""The customers table: Faust's changelog-backed Table, read and written by partition, a batch
of states at a time.

Faust's own table API finds a key's partition from the event being processed (a context
variable Faust's stream sets) and sends one changelog record per write through its producer
buffer, whose flush a commit does not wait for. The worker handles input in batches below
Faust's stream (`streams.intake`), so it says which partition each state belongs to (its
customer's: the partition its input is scored from), and `write` returns only once the
changelog has every state it wrote. An offset is therefore committed only once the state it
stands for is in Kafka (in the same transaction, under exactly-once). Recovery, standby
replicas and the changelog topic stay Faust's.

At least once, a batch's changelog records go out as producer batches (`streams.outbox`), and
a RocksDB store remembers the last offset written to each partition, as Faust's changelog
callback does. Exactly once, they go through Faust's `send_changelog`, which puts each in its
partition's transaction and persists the offsets on commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust
from faust.stores.memory import Store as MemoryStore
from faust.types import TP, FutureMessage

from streams.outbox import Outbox

__all__ = ["StateTable"]


class StateTable(faust.Table):  # type: ignore[type-arg]
    """A `faust.Table` of bytes by customer id, read and written by partition."""

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

    def read(self, key: str, partition: int) -> bytes | None:
        """The stored bytes of `key`, which lives in `partition`."""
        store: Any = self.data
        if isinstance(store, MemoryStore):
            value: bytes | None = store.data.get(key)
            return value
        db = store._db_for_partition(partition)
        encoded = store._encode_key(key)
        value = db.get(encoded)
        if value is not None:
            store._key_index[encoded] = partition
        return value

    async def write(self, rows: Sequence[tuple[str, int, bytes]], sources: set[str]) -> None:
        """Write each (key, partition, bytes) to the changelog and, once Kafka has them all,
        to the store.

        In that order: a RocksDB store outlives a crash, and a state it held that the
        changelog never got would hide the input behind it (read again, its events are
        duplicates) from whichever worker recovers the partition from the changelog next.
        `sources`: the topics whose input caused the writes; each must have as many
        partitions as the changelog (Faust's check, made at their first write). Raises what a
        failed changelog send raised.
        """
        for topic in sources:
            self._verify_source_topic_partitions(topic)
        store: Any = self.data
        encode = store._encode_key  # as Faust keys the changelog and RocksDB
        encoded: list[bytes] | None = None
        written: dict[TP, int] = {}
        if self.app.in_transaction:
            for key, partition, value in rows:
                self.send_changelog(partition, key, value)  # Faust encodes the key
            await self.changelog_acknowledged()  # Faust persists the offsets on commit
        else:
            encoded = [encode(key) for key, _partition, _value in rows]
            outbox = Outbox(self.app)
            topic = self.changelog_topic_name
            for key_bytes, (_key, partition, value) in zip(encoded, rows, strict=True):
                outbox.add(topic, key_bytes, value, partition=partition)
            written = await outbox.flush()
        if isinstance(store, MemoryStore):
            memory = store.data
            for key, _partition, value in rows:
                memory[key] = value
            return
        if encoded is None:
            encoded = [encode(key) for key, _partition, _value in rows]
        key_index = store._key_index
        for key_bytes, (_key, partition, value) in zip(encoded, rows, strict=True):
            store._db_for_partition(partition).put(key_bytes, value)
            key_index[key_bytes] = partition
        for tp, offset in written.items():  # as Faust's changelog callback does
            store.set_persisted_offset(TP(tp.topic, tp.partition), offset)

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
