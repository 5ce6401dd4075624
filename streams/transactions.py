"""Exactly-once: every record an event causes goes into the transaction of the event's input
partition, the one that commits that event's offset.

Faust (0.15) puts a record into the transaction named after its *destination* partition
(`{app}-{topic group}-{partition}`) and commits an input offset in the transaction named after
the *input* partition. The two are the same transaction only when every record an event causes
lands on the partition number it was read from. Ours does not always: the agent re-keys an
unkeyed event from interactions partition 3 to keyed partition 6, and an input topic the
publisher created with another partition count is in another topic group. A crash between the
two commits then loses the event (its offset committed, its keyed record aborted) or doubles it.
A record for a topic the consumer has no metadata for (our output topics) gets no transaction
at all. So, as Kafka Streams does with one producer per task: a send made for input from a
partition (`streams.intake.current_source`) is made in the transaction of that partition,
which this worker owns (Faust starts one transactional producer per assigned partition). A
changelog write made with no current source (Faust sends them later, from its buffer) keeps
Faust's choice, the transaction of its partition: that of the input partition whose records
changed the state, as a state lives in its customer's partition. Any other send with no
current source is new input, not the effect of an event: a timer's silence tick. It goes out at once, in no transaction: in one, it
would stay invisible to a `read_committed` reader until the partition next committed input,
and an idle partition's transaction would time out, abort, and fence the worker's producer.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import TransactionManager

from streams.intake import current_source

__all__ = ["SourceTransactions", "transactional_id_of"]


class SourceTransactions(TransactionManager):
    """Faust's transaction manager, choosing the transaction by the input being handled."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
        *,
        transactional_id: str | None = None,
    ) -> Any:
        source = current_source()
        if source is None:
            if topic in self.app.tables.changelog_topics:
                return await super().send(topic, key, value, partition, timestamp, headers)
            return await self.producer.send(topic, key, value, partition, timestamp, headers)
        tid = transactional_id_of(self.app, source.topic, source.partition)
        return await self.producer.send(
            topic, key, value, partition, timestamp, headers, transactional_id=tid
        )


def transactional_id_of(app: Any, topic: str, partition: int) -> str:
    """The transaction that commits the offsets of `topic`'s `partition` (Faust's `commit`)."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(topic)}-{partition}"
