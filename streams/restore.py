"""Changelog records into the table in bulk, while Faust recovers it or keeps standby copies.

Faust's recovery takes a changelog record through the same per-record chain as input (a task
per delivery, the conductor, a queue) and then logs, counts and checks for the end of the
recovery once per record: a few thousand records a second, and a changelog holds about one
record per customer per batch. So the worker's consumer (`streams.intake`) gives each fetch's
changelog records here instead, and they are applied a partition at a time with the table's
own `apply_changelog_batch`, Faust's recovery offsets advanced and the end of the recovery
signalled as Faust's loop would. Faust's recovery service stays in charge of everything else:
which partitions to read and from where, their highwaters, the standby replicas, the seeks
and the resumption of the input afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from time import monotonic
from typing import Any

from faust.types import TP
from faust.utils.tracing import finish_span

__all__ = ["apply_changelogs"]


class _Message:
    """What the stores read of a changelog message (Faust's `Message` has much more)."""

    __slots__ = ("key", "offset", "partition", "topic", "tp", "value")

    def __init__(self, tp: TP, record: Any) -> None:
        self.tp = tp
        self.topic, self.partition = tp
        self.offset, self.key, self.value = record.offset, record.key, record.value


class _Event:
    """A changelog record as the stores' `apply_changelog_batch` reads it: key and value
    decoded as the changelog topic's serializers decode them, and the message."""

    __slots__ = ("key", "message", "value")

    def __init__(self, key: Any, value: Any, message: _Message) -> None:
        self.key, self.value, self.message = key, value, message


def apply_changelogs(app: Any, records: Mapping[TP, Any]) -> dict[TP, Any]:
    """Apply the records of changelog partitions Faust is recovering or keeping a standby copy
    of; return the rest (for Faust's own delivery)."""
    recovery = app.tables.recovery
    rest: dict[TP, Any] = {}
    applied = False
    now = monotonic()
    for tp, tp_records in records.items():
        if tp in recovery.active_tps:
            offsets, received = recovery.active_offsets, recovery._active_events_received_at
        elif tp in recovery.standby_tps:
            offsets, received = recovery.standby_offsets, recovery._standby_events_received_at
        else:
            rest[tp] = tp_records
            continue
        seen = offsets.get(tp)
        if seen is not None and tp_records[0].offset <= seen:  # already applied (a re-fetch)
            tp_records = [r for r in tp_records if r.offset > seen]
            if not tp_records:
                continue
        table = recovery.tp_to_table[tp]
        topic = table.changelog_topic
        serializers = app.serializers
        key_type, key_serializer = topic.key_type, topic.key_serializer
        value_type, value_serializer = topic.value_type, topic.value_serializer
        events = []
        for record in tp_records:
            key = serializers.loads_key(key_type, record.key, serializer=key_serializer)
            value = (
                serializers.loads_value(value_type, record.value, serializer=value_serializer)
                if record.value is not None
                else None
            )
            events.append(_Event(key, value, _Message(tp, record)))
        table.apply_changelog_batch(events)
        offsets[tp] = tp_records[-1].offset
        received[tp] = now
        applied = True
    if applied:
        _maybe_signal_end(recovery)
    return rest


def _maybe_signal_end(recovery: Any) -> None:
    """What Faust's recovery loop does after each record: the end of the recovery once the
    active partitions are read up to their highwaters, the standbys' readiness."""
    if recovery.in_recovery and not recovery.need_recovery():
        recovery.flush_buffers()
        recovery._set_recovery_ended()
        recovery.signal_recovery_end.set()
    standby_ready = recovery._standbys_span is None and recovery.tables.standbys_ready
    if not standby_ready and not recovery.standby_remaining_total():
        if recovery._standbys_span:
            finish_span(recovery._standbys_span)
            recovery._standbys_span = None
        recovery.tables.on_standbys_ready()
