"""`streams.restore`: changelog records go into the table in bulk, Faust's recovery offsets
advance and the end of the recovery is signalled as Faust's own loop does. No broker: the
recovery service of a real (unstarted) app, with changelog records as aiokafka gives them."""

from __future__ import annotations

from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import restore
from streams.table import StateTable


def record(tp: TP, offset: int, key: bytes, value: bytes | None) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 0, 0, key, value, None, len(key), len(value or b""), ()
    )


def recovering() -> tuple[faust.App, StateTable, TP]:
    app = faust.App("cx-r", broker="kafka://127.0.0.1:1", autodiscover=False, env={},
                    Table=StateTable)  # fmt: skip
    table = app.Table("customers", default=None, key_type=str, value_type=bytes, partitions=2)
    assert isinstance(table, StateTable)
    tp = TP(table.changelog_topic_name, 1)
    recovery = app.tables.recovery
    recovery.add_active(table, tp)
    recovery.active_highwaters[tp] = 3  # Faust's highwater: the last offset to read
    recovery._set_recovery_started()
    return app, table, tp


def test_changelog_records_go_into_the_table_and_the_last_one_ends_the_recovery() -> None:
    app, table, tp = recovering()
    recovery = app.tables.recovery
    rest = restore.apply_changelogs(
        app, {tp: [record(tp, 0, b'"C-1"', b"one"), record(tp, 1, b'"C-2"', b"two")]}
    )
    assert rest == {}
    assert table.read("C-1", 1) == b"one" and table.read("C-2", 1) == b"two"
    assert recovery.active_offsets[tp] == 1 and recovery.in_recovery
    assert not recovery.signal_recovery_end.is_set()

    restore.apply_changelogs(
        app,
        {tp: [record(tp, 1, b'"C-2"', b"two"), record(tp, 2, b'"C-1"', None),
              record(tp, 3, b'"C-2"', b"three")]},
    )  # fmt: skip
    assert table.read("C-1", 1) is None  # a tombstone deletes
    assert table.read("C-2", 1) == b"three"
    assert recovery.active_offsets[tp] == 3
    assert not recovery.in_recovery and recovery.signal_recovery_end.is_set()


def test_records_of_partitions_faust_is_not_recovering_take_faust_s_way() -> None:
    app, _, tp = recovering()
    other = TP("cx.interactions", 0)
    rest = restore.apply_changelogs(app, {other: [record(other, 0, b"C-1", b"{}")]})
    assert list(rest) == [other]
    assert app.tables.recovery.active_offsets[tp] is None  # nothing applied
