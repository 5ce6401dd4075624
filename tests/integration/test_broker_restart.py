"""Kafka stops under a running worker and starts again: the worker reconnects by itself, nothing
is lost, and /healthz reports the outage while it lasts.

The test runs its own broker on another port (deploy/kafka/kafka.sh, one run directory per
port), so stopping it disturbs nobody else's tests.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Worker, make_worker
from tests.integration.journeys import Journey, happy, souring
from tests.integration.kafka_io import Record, port_free

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
PORTS = (19092, 19192, 19292, 19392)  # the first free one (and the next port, the controller's)
OUTAGE_SECONDS = 15.0  # how long the broker stays down once /healthz has noticed
NOTICE_WITHIN = 20.0  # /healthz must say "unreachable" this soon after the broker stopped
RECOVER_WITHIN = 60.0  # and "ok" this soon after it answers again


@dataclass
class Broker:
    """A single-node Kafka of our own, driven through the project's script."""

    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kafka_sh(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        env["KAFKA_PORT"] = str(self.port)
        done = subprocess.run(
            ["bash", str(KAFKA_SH), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"kafka.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    port = next((p for p in PORTS if port_free(p) and port_free(p + 1)), None)
    if port is None:
        pytest.fail(f"no free port pair for a broker of our own among {PORTS}")
    broker = Broker(port)
    try:
        broker.kafka_sh("up")
        yield broker
    finally:
        broker.kafka_sh("down", "--clean")


def _wait(
    what: str, probe: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, w: Worker
) -> tuple[Any, float]:
    """Poll `probe` until `ok(result)`; fail if the worker exits or time runs out."""
    started = time.monotonic()
    while True:
        result = probe()
        if ok(result):
            return result, time.monotonic() - started
        assert w.alive(), f"the worker exited while waiting for {what}:\n{w.log_tail()}"
        if time.monotonic() - started > timeout:
            pytest.fail(f"no {what} within {timeout:.0f} s (last: {result!r})")
        time.sleep(0.25)


def _events(journeys: list[Journey]) -> list[dict[str, Any]]:
    return [e for j in journeys for e in j.events]


def _counts(records: list[Record]) -> dict[bytes, set[int]]:
    """The event counts each customer's score updates carry: 1..n, one update per event."""
    seen: dict[bytes, set[int]] = {}
    for r in records:
        if r.key is not None:
            seen.setdefault(r.key, set()).add(r.json()["event_count"])
    return seen


def _all_scored(journeys: list[Journey]) -> Callable[[list[Record]], bool]:
    def done(records: list[Record]) -> bool:
        seen = _counts(records)
        return all(
            set(range(1, len(j.events) + 1)) <= seen.get(j.customer_id.encode(), set())
            for j in journeys
        )

    return done


def _customer(worker: Worker, customer_id: str, events: int) -> Any:
    """GET /customers/{id} once it counts `events` (a state can trail its score update)."""

    def probe() -> tuple[int, Any]:
        return worker.get(f"/customers/{customer_id}")

    def ok(result: tuple[int, Any]) -> bool:
        return result[0] == 200 and result[1]["event_count"] >= events

    (_, body), _ = _wait(f"/customers/{customer_id} with {events} events", probe, ok, 30, worker)
    return body


def _unreachable(result: tuple[int, Any]) -> bool:
    status, body = result
    return status == 503 and isinstance(body, dict) and body.get("broker") == "unreachable"


def test_the_worker_rides_out_a_broker_restart(own_broker: Broker, tmp_path: Path) -> None:
    worker = make_worker(own_broker.bootstrap, tmp_path)
    worker.start()
    assert worker.process is not None
    pid = worker.process.pid
    try:
        status, body = worker.get("/healthz")
        assert status == 200 and body["broker"] in ("ok", "unknown"), body

        # a first set, scored before anything happens
        first = [souring() for _ in range(4)] + [happy() for _ in range(4)]
        worker.send_events(_events(first))
        worker.read("scores", _all_scored(first))
        # and a burst the worker may still be busy with when the broker goes
        burst = [happy() for _ in range(60)]
        worker.send_events(_events(burst))

        stopping = time.monotonic()
        own_broker.kafka_sh("down")  # SIGTERM: the broker closes its listeners, then its logs
        broker_down = time.monotonic() - stopping
        (_, body), _ = _wait(
            "/healthz 503 broker unreachable",
            lambda: worker.get("/healthz"),
            _unreachable,
            NOTICE_WITHIN,
            worker,
        )
        noticed = time.monotonic() - stopping
        assert body["status"] == "broker_unreachable" and body["broker_since"], body

        # it stays so, and the worker stays up, for as long as the broker is away
        held = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < held:
            assert worker.alive(), f"the worker exited during the outage:\n{worker.log_tail()}"
            status, body = worker.get("/healthz")
            assert _unreachable((status, body)), (status, body)
            time.sleep(0.5)

        # /healthz is watched while the broker starts, to see when the worker notices
        healthy_at: list[float] = []
        starting = threading.Event()

        def watch() -> None:
            while not starting.wait(0.25):
                if worker.get("/healthz")[0] == 200:
                    healthy_at.append(time.monotonic())
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        started = time.monotonic()
        watcher.start()
        own_broker.kafka_sh("up")  # returns once the broker answers clients
        broker_up = time.monotonic() - started
        (_, body), _ = _wait(
            "/healthz 200 again",
            lambda: worker.get("/healthz"),
            lambda r: r[0] == 200,
            RECOVER_WITHIN,
            worker,
        )
        starting.set()
        watcher.join()
        assert body["broker"] == "ok" and body["status"] == "ok", body
        recovered = (healthy_at[0] if healthy_at else time.monotonic()) - started

        # a second set: new customers, and one more event for each of the first
        second = [souring() for _ in range(4)]
        more = [j.add("login", 0.5, channel="web") for j in first]
        worker.send_events(_events(second) + more)
        everyone = first + burst + second
        worker.read("scores", _all_scored(everyone), timeout=120)

        for j in everyone:
            body = _customer(worker, j.customer_id, len(j.events))
            assert body["event_count"] == len(j.events), (j.customer_id, body["event_count"])
        # one process all along: it never exited, nothing restarted it
        assert worker.alive() and worker.process.pid == pid
        print(
            f"\nbroker outage: /healthz said unreachable {noticed:.1f} s after kafka.sh down "
            f"started (the script took {broker_down:.1f} s); /healthz was 200 again "
            f"{recovered:.1f} s after kafka.sh up started (the script took {broker_up:.1f} s "
            "to see the broker answer)"
        )
    except BaseException:
        print(worker.log_tail())
        raise
    finally:
        worker.stop()
