"""The broker probe behind /healthz: its state machine, and the probe itself on fake clients."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaConnectionError

from streams.health import BrokerHealth, metadata_client, probe


def test_unknown_until_the_first_probe_then_ok() -> None:
    health = BrokerHealth()
    assert health.as_dict() == {"broker": "unknown", "broker_since": None}
    assert not health.unreachable
    health.record(True, 1_000.0)
    assert health.as_dict() == {"broker": "ok", "broker_since": "1970-01-01T00:16:40.000Z"}


def test_one_lost_answer_is_not_an_outage_two_are() -> None:
    health = BrokerHealth()
    health.record(True, 100.0)
    health.record(False, 102.0)
    assert health.state == "ok" and health.since == 100.0
    health.record(True, 104.0)
    health.record(False, 106.0)
    health.record(False, 108.0)
    assert health.unreachable
    assert health.since == 106.0  # since the first failed probe of the run
    health.record(False, 110.0)
    assert health.since == 106.0
    health.record(True, 112.0)
    assert health.state == "ok" and health.since == 112.0 and health.failures == 0
    assert health.last_ok == 112.0


def test_unreachable_from_the_start() -> None:
    health = BrokerHealth(failures_before_unreachable=1)
    health.record(False, 5.0)
    assert health.unreachable and health.since == 5.0


class FakeClient:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.calls = 0
        self.cluster = SimpleNamespace(brokers=lambda: {"broker 1"})

    async def fetch_all_metadata(self) -> Any:
        self.calls += 1
        if self.behaviour == "refused":
            raise KafkaConnectionError("Unable to connect")
        if self.behaviour == "hangs":
            await asyncio.sleep(60)
        return object()


def test_probe_answers_true_only_when_a_broker_answers_in_time() -> None:
    assert asyncio.run(probe(FakeClient("answers"), timeout=1.0)) is True
    assert asyncio.run(probe(FakeClient("refused"), timeout=1.0)) is False
    started = time.monotonic()
    assert asyncio.run(probe(FakeClient("hangs"), timeout=0.1)) is False
    assert time.monotonic() - started < 5


def test_probe_on_a_real_client_that_never_reached_a_broker() -> None:
    from aiokafka.client import AIOKafkaClient

    async def run() -> bool:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")
        try:
            return await probe(client, timeout=2.0)
        finally:
            await client.close()

    assert asyncio.run(run()) is False


def test_the_probe_client_has_the_producers_brokers_identity_and_credentials() -> None:
    import faust

    app = faust.App(
        "t-probe",
        broker="kafka://127.0.0.1:1",
        broker_client_id="cx-7",
        broker_credentials=faust.SASLCredentials(username="cx", password="secret"),
        env={},
    )

    async def run() -> Any:
        client = metadata_client(app)
        await client.close()
        return client

    client = asyncio.run(run())
    assert client._bootstrap_servers == ["127.0.0.1:1"]
    assert client._client_id == "cx-7"
    assert (client._security_protocol, client._sasl_mechanism) == ("SASL_PLAINTEXT", "PLAIN")
    assert client._sasl_plain_username == "cx"
