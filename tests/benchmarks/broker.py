"""The benchmark's own single-node Kafka, through deploy/kafka/kafka.sh on a port of its own."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.benchmarks.procs import ROOT, BenchError, pinned_command
from tests.integration.kafka_io import port_free

__all__ = ["OwnBroker", "kafka_version"]

KAFKA_SH: Final = ROOT / "deploy" / "kafka" / "kafka.sh"
POM: Final = ROOT / "deploy" / "kafka" / "pom.xml"


def kafka_version() -> str | None:
    """The Kafka version kafka.sh runs (the pom's <kafka.version>)."""
    try:
        found = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    except OSError:
        return None
    return found.group(1) if found else None


@dataclass
class OwnBroker:
    """A broker started (and deleted again) by the benchmark; `cpus` pins its JVM."""

    port: int
    cpus: set[int] | None
    started: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def marker(self) -> Path:
        """Marks kafka.sh's run directory of this port as the benchmark's own."""
        return ROOT / ".cache" / "kafka" / f"run-{self.port}" / "started-by-cx-bench"

    def kafka_sh(self, *args: str, timeout: float = 300.0, check: bool = True) -> str:
        # the Makefile exports KAFKA_PORT for the suite's broker: only ours may be used here
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("KAFKA_") or k == "KAFKA_HEAP_OPTS"
        }
        env["KAFKA_PORT"] = str(self.port)
        argv, preexec = pinned_command(["bash", str(KAFKA_SH), *args], self.cpus)
        try:
            done = subprocess.run(
                argv,
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                preexec_fn=preexec,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops the broker
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"kafka.sh {' '.join(args)} took more than {timeout:.0f} s") from exc
        if check and done.returncode != 0:
            raise BenchError(
                f"kafka.sh {' '.join(args)} (KAFKA_PORT={self.port}) failed:\n"
                f"{done.stdout}{done.stderr}"
            )
        return done.stdout.strip()

    def up(self) -> None:
        """Delete whatever an earlier benchmark left on this port, then start an empty broker.

        A broker on this port that the benchmark did not start (the suite's, someone's demo)
        is left alone: the run stops instead of deleting its data.
        """
        if not port_free(self.port) and not self.marker.exists():
            raise BenchError(
                f"something already listens on 127.0.0.1:{self.port} and the benchmark did not "
                "start it; choose another --port, or use that broker with --bootstrap "
                f"127.0.0.1:{self.port} (the run's topics get unique names there)"
            )
        self.kafka_sh("down", "--clean")
        for port in (self.port, self.port + 1):
            if not port_free(port):
                raise BenchError(
                    f"port {port} is taken by another program; the benchmark's broker needs "
                    f"{self.port} and {self.port + 1} (choose others with --port, or use a "
                    "running broker with --bootstrap HOST:PORT)"
                )
        self.started = True
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.touch()
        print(f"broker: {self.kafka_sh('up')}", flush=True)

    def down(self) -> None:
        if self.started:
            self.started = False
            print(f"broker: {self.kafka_sh('down', '--clean')}", flush=True)
