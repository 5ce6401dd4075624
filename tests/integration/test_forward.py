"""`cx-streams forward` posts alerts to a webhook: retries, then a dead-letter file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.kafka_io import produce


class Webhook:
    """A local HTTP receiver that fails the first `fail_first` posts of each alert with 503,
    or refuses everything with `status`."""

    def __init__(self, fail_first: int = 0, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                outer.attempts[key] = outer.attempts.get(key, 0) + 1
                code = status
                if status == 200 and outer.attempts[key] <= fail_first:
                    code = 503
                elif code == 200:
                    outer.received.append(json.loads(body))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"nope")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.server.shutdown()


def alerts(n: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            b"C-1",
            orjson.dumps(
                {
                    "alert_id": str(uuid.uuid4()),
                    "customer_id": "C-1",
                    "kind": "churn_risk",
                    "severity": "high",
                    "n": i,
                }
            ),
        )
        for i in range(n)
    ]


def run_forwarder(
    bootstrap: str, topic: str, url: str, dead: Path, app_id: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
    env |= {"CX_KAFKA_BOOTSTRAP": bootstrap, "CX_TOPIC_ALERTS": topic, "CX_APP_ID": app_id}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "forward",
            "--url",
            url,
            "--from-beginning",
            "--max-attempts",
            "3",
            "--timeout",
            "2",
            "--dead-letter-file",
            str(dead),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def alerts_topic(bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    topic = f"t{uuid.uuid4().hex[:8]}.alerts"
    monkeypatch.setenv("CX_KAFKA_BOOTSTRAP", bootstrap)
    monkeypatch.setenv("CX_TOPIC_ALERTS", topic)
    asyncio.run(ensure_topics(Settings()))
    return topic


def wait_until(check: Any, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_alerts_are_delivered_despite_failures(
    bootstrap: str, alerts_topic: str, tmp_path: Path
) -> None:
    hook = Webhook(fail_first=2)
    sent = alerts(5)
    produce(bootstrap, alerts_topic, sent)
    forwarder = run_forwarder(bootstrap, alerts_topic, hook.url, tmp_path / "dead.jsonl", "fw1")
    try:
        assert wait_until(lambda: len(hook.received) == 5), forwarder.poll()
        assert [a["n"] for a in hook.received] == [0, 1, 2, 3, 4]  # in order, each once
        assert all(count == 3 for count in hook.attempts.values())  # 2 failures, then success
        assert not (tmp_path / "dead.jsonl").exists()
    finally:
        forwarder.terminate()
        forwarder.wait(timeout=30)
        hook.close()


def test_refused_alerts_go_to_the_dead_letter_file_and_the_rest_goes_on(
    bootstrap: str, alerts_topic: str, tmp_path: Path
) -> None:
    hook = Webhook(status=422)
    produce(bootstrap, alerts_topic, alerts(3))
    dead = tmp_path / "dead.jsonl"
    forwarder = run_forwarder(bootstrap, alerts_topic, hook.url, dead, "fw2")
    try:
        assert wait_until(lambda: dead.exists() and len(dead.read_text().splitlines()) == 3)
        lines = [json.loads(line) for line in dead.read_text().splitlines()]
        assert [line["alert"]["n"] for line in lines] == [0, 1, 2]
        assert all(line["error"].startswith("HTTP 422") for line in lines)
        assert all(count == 1 for count in hook.attempts.values())  # a 4xx is not retried
    finally:
        forwarder.terminate()
        forwarder.wait(timeout=30)
        hook.close()
