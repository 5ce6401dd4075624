"""Small synchronous helpers to put bytes on the real broker and read what comes out."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    partition: int
    offset: int
    headers: tuple[tuple[str, bytes], ...] = ()

    def json(self) -> Any:
        return orjson.loads(self.value)


Message = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def produce(bootstrap: str, topic: str, messages: Iterable[Message]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=4 * 1024 * 1024,
            linger_ms=5,
        )
        await producer.start()
        try:
            # in order per partition (one in flight at a time), acknowledged before returning
            pending = [
                await producer.send(topic, value, key=key, headers=headers[0] if headers else None)
                for key, value, *headers in messages
            ]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(run())


def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    timeout: float = 60.0,
    isolation_level: str = "read_uncommitted",
) -> list[Record]:
    """Read `topic` from the beginning until `done(records)` or the timeout; return all read.

    `isolation_level="read_committed"` reads as a consumer of a transactional producer should.
    """

    async def run() -> list[Record]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            isolation_level=isolation_level,
        )
        await consumer.start()
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    records.extend(
                        Record(m.key, m.value, m.partition, m.offset, tuple(m.headers))
                        for m in messages
                        if m.value is not None
                    )
                if done(records):
                    break
        finally:
            await consumer.stop()
        return records

    return asyncio.run(run())


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:`port` (a broker of a test's own may take it)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
