"""`streams.rebalance`: input that arrives while a rebalance settles is not dropped.

No broker: each remedy on a real (unstarted) app, and the Faust and aiokafka behaviour each one
relies on, so that an upgrade that changes it fails here rather than losing records quietly.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import faust
import pytest
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.structs import TopicPartition
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import rebalance, transport


def new_app(name: str, installed: bool = True) -> faust.App:
    app = faust.App(name, broker="kafka://127.0.0.1:1", autodiscover=False, env={})
    if installed:
        transport.install(app)
    return app


# --- 1. records fetched during Faust's seek wait for the queue clear ---------------------------


async def end_of_recovery(app: faust.App, records: list[int]) -> list[int]:
    """Faust's last recovery steps, with `records` fetched while it seeks; what reaches the
    stream queue: `on_rebalance_complete`, resume the stream partitions, await the seek,
    `flow_control.resume()` (which clears the queues)."""
    queue = app.FlowControlQueue(maxsize=100, clear_on_resume=True)
    app.flow_control.resume()  # the recovery resumed flow to read the changelogs

    async def conductor(record: int) -> None:  # transport.Conductor.on_message
        await app.flow_control.acquire()
        queue.put_nowait(record)

    await app.on_rebalance_complete.send()
    delivering = [asyncio.ensure_future(conductor(r)) for r in records]
    for _ in range(5):  # awaiting perform_seek(): the fetcher runs meanwhile
        await asyncio.sleep(0)
    app.flow_control.resume()
    await asyncio.wait_for(asyncio.gather(*delivering), timeout=5)
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_bare_faust_clears_what_it_fetched_during_the_seek() -> None:
    assert asyncio.run(end_of_recovery(new_app("t-bare", installed=False), [0, 1, 2])) == []


def test_installed_the_records_reach_the_queue_in_order_after_the_clear() -> None:
    app = new_app("t-hold")
    assert asyncio.run(end_of_recovery(app, [0, 1, 2])) == [0, 1, 2]
    assert app.flow_control.is_active()


@pytest.mark.parametrize("method", [Recovery.on_recovery_completed, Recovery._resume_streams])
def test_faust_signals_before_it_resumes_the_stream_partitions(method: Any) -> None:
    source = inspect.getsource(method)
    assert source.index("on_rebalance_complete.send()") < source.index("resume_partitions(")
    assert source.index("resume_partitions(") < source.index("perform_seek()")
    assert source.index("perform_seek()") < source.index("flow_control.resume()")


# --- 2. an emptied set of unpaused partitions filters everything out ---------------------------


def test_the_fetch_filter_follows_the_live_set_and_stays_a_filter_when_it_empties() -> None:
    live = {TopicPartition("t", 0)}
    only = rebalance._OnlyThese(live)
    assert only and TopicPartition("t", 0) in only and TopicPartition("t", 1) not in only
    live.clear()  # the recovery paused the last unpaused partition while a fetch waits
    assert only and TopicPartition("t", 0) not in only


def test_aiokafka_reads_an_empty_partition_filter_as_every_partition() -> None:
    assert "if partitions and tp not in partitions:" in inspect.getsource(Fetcher.fetched_records)


def test_installed_fetches_go_through_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    async def fetch(self: Any, consumer: Any, partitions: Any, **kwargs: Any) -> dict[Any, Any]:
        seen.append(partitions)
        return {}

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", fetch)
    thread = new_app("t-fetch").consumer._thread  # type: ignore[attr-defined]
    live: set[TopicPartition] = set()
    asyncio.run(thread._fetch_records(None, live, timeout=0))
    assert isinstance(seen[0], rebalance._OnlyThese) and seen[0]


# --- 3. partitions never committed are read again from their beginning ---------------------------


def test_installed_seek_sends_never_committed_stream_partitions_to_their_beginning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = new_app("t-seek")
    app.Table("things", default=None, partitions=2)  # its changelog topic is never committed
    changelog = next(iter(app.tables.changelog_topics))
    committed = {
        TopicPartition("in", 0): 42,
        TopicPartition("in", 1): None,
        TopicPartition("in", 2): 0,
        TopicPartition(changelog, 0): None,
    }
    to_beginning: list[Any] = []

    async def seek_to_committed(self: Any) -> dict[Any, Any]:
        return committed

    async def seek_to_beginning(self: Any, *partitions: Any) -> None:
        to_beginning.extend(partitions)

    monkeypatch.setattr(
        faust_aiokafka.AIOKafkaConsumerThread, "seek_to_committed", seek_to_committed
    )
    monkeypatch.setattr(
        faust_aiokafka.AIOKafkaConsumerThread, "seek_to_beginning", seek_to_beginning
    )
    thread = app.consumer._thread  # type: ignore[attr-defined]
    assert asyncio.run(thread.seek_to_committed()) == committed
    assert to_beginning == [TopicPartition("in", 1), TopicPartition("in", 2)]
