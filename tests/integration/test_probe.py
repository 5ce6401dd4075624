"""The broker probe against the real broker: it asks for the metadata of one topic, not the
whole cluster's."""

from __future__ import annotations

import asyncio

import faust

from streams.health import metadata_client, probe


def test_the_probe_asks_for_its_topics_only(bootstrap: str) -> None:
    app = faust.App("t-probe-real", broker=f"kafka://{bootstrap}", env={})

    async def run() -> tuple[bool, set[str]]:
        client = metadata_client(app, ["cx-probe-topic"])
        try:
            answered = await probe(client, timeout=10.0)
            metadata = await client.fetch_all_metadata()
            return answered, set(metadata.topics())
        finally:
            await client.close()

    answered, topics = asyncio.run(run())
    assert answered
    assert topics <= {"cx-probe-topic"}  # a broker may create it (auto-create) or not
