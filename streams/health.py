"""Can this worker reach Kafka? A small periodic metadata request answers it for /healthz.

While the brokers are down Faust and aiokafka keep retrying on their own and the worker resumes
when they are back, but nothing in Faust says so: the consumer just fetches nothing. So a timer
sends a metadata request every couple of seconds, with a short timeout, through a client of its
own (the producer's brokers, TLS and SASL settings, not its connections: a broker holding back a
producer over its quota mutes that connection for the throttle time, and a probe queued behind
it would call a busy broker unreachable). Two failures in a row make the broker `unreachable`;
the first answer makes it `ok` again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import faust
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError

from streams.scoring.interaction import format_time

__all__ = ["BrokerHealth", "ProbeClient", "metadata_client", "probe", "watch"]

log = logging.getLogger(__name__)

#: seconds between two probes
PROBE_INTERVAL: Final = 2.0
#: seconds a probe may take before it counts as failed (a hung broker, a dropped route)
PROBE_TIMEOUT: Final = 3.0
#: failed probes in a row before the broker is reported unreachable (one lost answer is not)
FAILURES_BEFORE_UNREACHABLE: Final = 2

BrokerState = Literal["unknown", "ok", "unreachable"]


@dataclass
class BrokerHealth:
    """What the probes found, and since when. `record` is the whole state machine."""

    failures_before_unreachable: int = FAILURES_BEFORE_UNREACHABLE
    state: BrokerState = "unknown"
    #: wall-clock time the current state began (for `unreachable`: the first failed probe)
    since: float | None = None
    last_ok: float | None = None
    failures: int = 0
    _first_failure: float | None = None

    @property
    def unreachable(self) -> bool:
        return self.state == "unreachable"

    def record(self, ok: bool, now: float) -> None:
        """One probe's result at wall-clock time `now`."""
        if ok:
            if self.state == "unreachable" and self.since is not None:
                log.warning("Kafka is reachable again after %.1f s", now - self.since)
            if self.state != "ok":
                self.state, self.since = "ok", now
            self.last_ok, self.failures, self._first_failure = now, 0, None
            return
        self.failures += 1
        if self._first_failure is None:
            self._first_failure = now
        if self.state != "unreachable" and self.failures >= self.failures_before_unreachable:
            self.state, self.since = "unreachable", self._first_failure
            log.warning(
                "Kafka is unreachable: no broker answered %d metadata requests in a row; "
                "the worker keeps retrying and resumes when a broker answers",
                self.failures,
            )

    def as_dict(self) -> dict[str, Any]:
        """The fields /healthz adds to its body."""
        return {
            "broker": self.state,
            "broker_since": format_time(self.since) if self.since is not None else None,
        }


class ProbeClient(AIOKafkaClient):  # type: ignore[misc]
    """A client whose metadata requests name `topics` only (all of them without any).

    A cluster's whole metadata can run to thousands of topics, and a probe every couple of
    seconds need not make a broker list them, nor the worker decode them.
    """

    def __init__(self, *, topics: Sequence[str] = (), **settings: Any) -> None:
        super().__init__(**settings)
        self._probe_topics = list(topics)

    async def fetch_all_metadata(self) -> ClusterMetadata:
        if not self._probe_topics:
            return await super().fetch_all_metadata()
        metadata = ClusterMetadata(metadata_max_age_ms=self._metadata_max_age_ms)
        if not await self._metadata_update(metadata, self._probe_topics):
            raise KafkaError("Unable to get cluster metadata over all known brokers")
        return metadata


def metadata_client(app: faust.App, topics: Sequence[str] = ()) -> ProbeClient:
    """A new client to the app's brokers, with its producer's settings (call it on the loop);
    its metadata requests name `topics` only."""
    producer: Any = app.producer
    settings = {**producer._settings_default(), **producer._settings_auth()}
    accepted = inspect.signature(AIOKafkaClient).parameters.keys() - {"api_version"}
    return ProbeClient(topics=topics, **{k: v for k, v in settings.items() if k in accepted})


async def probe(client: Any, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if some broker answers a metadata request within `timeout` seconds.

    A client that never reached a broker bootstraps first. `fetch_all_metadata` fills a
    throw-away metadata object, so the client's own view of the cluster is left alone; it tries
    every broker the client knows before giving up.
    """
    try:
        async with asyncio.timeout(timeout):
            if not client.cluster.brokers():
                await client.bootstrap()
            await client.fetch_all_metadata()
    except Exception:  # refused, timed out, no metadata: all mean "not reachable now"
        return False
    return True


def watch(
    app: faust.App, interval: float = PROBE_INTERVAL, topics: Sequence[str] = ()
) -> BrokerHealth:
    """Probe the brokers every `interval` seconds while the app runs, asking for the metadata
    of `topics`; returns what it finds."""
    health = BrokerHealth()
    clients: list[AIOKafkaClient] = []

    @app.timer(interval=interval, name="broker_probe")  # type: ignore[untyped-decorator]
    async def broker_probe() -> None:
        if not clients:
            clients.append(metadata_client(app, topics))
        health.record(await probe(clients[0]), time.time())

    async def close(_: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for client in clients:
            await client.close()

    app.on_before_shutdown.connect(close)
    return health
