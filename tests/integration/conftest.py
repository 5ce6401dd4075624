"""Fixtures for tests against the real local Kafka broker and a real `cx-streams worker`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.kafka_io import Message, Record, produce, read_until

BOOTSTRAP = os.environ.get("CX_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap() -> str:
    host, _, port = BOOTSTRAP.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        pytest.fail(
            f"no Kafka broker at {BOOTSTRAP} ({exc}): run the suite with 'make test', "
            "which starts one, or start it with 'make kafka-up'"
        )
    return BOOTSTRAP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """A running `cx-streams worker` with its own app id, topics and web port."""

    bootstrap: str
    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)

    @property
    def topics(self) -> dict[str, str]:
        return {
            name: self.env[f"CX_TOPIC_{name.upper()}"]
            for name in ("interactions", "customers", "scores", "alerts", "dlq")
        }

    def start(self, timeout: float = 120.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 120.0, assigned: bool = False) -> None:
        """Until /healthz answers 200 (and, with `assigned`, the worker holds partitions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                pytest.fail(f"worker exited with {code}:\n{self.log_tail()}")
            status, body = self.get("/healthz")
            if status == 200 and (not assigned or body["assigned_partitions"] > 0):
                return
            time.sleep(0.5)
        pytest.fail(f"worker not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                body = r.read()
                kind = r.headers.get("Content-Type", "")
                return r.status, orjson.loads(body) if "json" in kind else body.decode()
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                return err.code, orjson.loads(body)
            except orjson.JSONDecodeError:
                return err.code, body.decode(errors="replace")
        except OSError:
            return 0, None

    def customer(self, customer_id: str, event_count: int, timeout: float = 30.0) -> Any:
        """GET /customers/{id} once its state holds `event_count` events.

        A batch's states are written just after its output is acknowledged, so the state can
        trail the scores topic by a moment.
        """
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.get(f"/customers/{customer_id}")
            if status == 200 and body["event_count"] >= event_count:
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"/customers/{customer_id}: {status} {body}, not {event_count} events")
            time.sleep(0.2)

    def send(self, topic: str, messages: list[Message]) -> None:
        produce(self.bootstrap, self.topics[topic], messages)

    def send_events(self, events: list[dict[str, Any]], keyed: bool = True) -> None:
        self.send(
            "interactions",
            [(e["customer_id"].encode() if keyed else None, orjson.dumps(e)) for e in events],
        )

    def read(
        self,
        topic: str,
        until: Any,
        timeout: float = 60.0,
        isolation_level: str = "read_uncommitted",
    ) -> list[Record]:
        return read_until(self.bootstrap, self.topics[topic], until, timeout, isolation_level)


def make_worker(bootstrap: str, tmp: Path) -> Worker:
    suffix = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
    port = _free_port()
    env.update(
        {
            "CX_KAFKA_BOOTSTRAP": bootstrap,
            "CX_APP_ID": f"cxtest-{suffix}",
            "CX_TOPIC_INTERACTIONS": f"t{suffix}.interactions",
            "CX_TOPIC_CUSTOMERS": f"t{suffix}.customers",
            "CX_TOPIC_SCORES": f"t{suffix}.scores",
            "CX_TOPIC_ALERTS": f"t{suffix}.alerts",
            "CX_TOPIC_DLQ": f"t{suffix}.dlq",
            "CX_PARTITIONS": "3",
            "CX_WEB_PORT": str(port),
            "CX_DATA_DIR": str(tmp / "data"),
            "CX_LOG_LEVEL": "info",
            "CX_SILENCE_CHECK_SECONDS": "1",
        }
    )
    return Worker(bootstrap=bootstrap, env=env, log_path=tmp / "worker.log", port=port)


def same_group(first: Worker, tmp: Path) -> Worker:
    """Another worker in `first`'s group (its app id, topics and settings), with its own web
    port, data directory and log under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    other = make_worker(first.bootstrap, tmp)
    other.env.update(
        {k: v for k, v in first.env.items() if k not in ("CX_WEB_PORT", "CX_DATA_DIR")}
    )
    return other


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp = tmp_path_factory.mktemp("worker")
    running = make_worker(bootstrap, tmp)
    running.start()
    yield running
    running.stop()
    shutil.rmtree(tmp / "data", ignore_errors=True)
