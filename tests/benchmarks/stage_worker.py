"""The cx-streams worker with its input handling cut short after one stage, for the benchmark's
stages phase: how much of the time per event the worker's intake and the event contract take,
measured on the same broker and events as the raw ceiling and the full worker.

    python -m tests.benchmarks.stage_worker --stage intake --expect N --result FILE
    (CX_* settings as for the worker)

Everything below the handler is the worker's own: Faust's consumer group, assignment and
commits, the batch intake, the table's recovery, the web server. Only what the handler does
with each record changes:

- `intake`: an interaction record is counted, nothing more;
- `contract`: it is parsed and checked against the contract (an `Interaction` built, or a
  rejection), then counted.

Profiles and keyed records are left alone in both. When `--expect` interaction records have
been handled, the worker writes FILE (JSON: stage, records, and the `time.monotonic()` of the
first and the last record handled) and goes on running until it is stopped.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import orjson
from faust.types import TP

from streams import agents, cli
from streams.batch import Batch
from streams.contract import Rejection

__all__ = ["STAGES", "main"]

Handler = Callable[[Any, Batch, TP, Any], None]


class _Count:
    """Interaction records handled and when the first and last of them were."""

    def __init__(self, expect: int, stage: str, result: Path) -> None:
        self.expect, self.stage, self.result = expect, stage, result
        self.records = 0
        self.first = self.last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if not self.records:
            self.first = now
        self.records += 1
        self.last = now
        if self.records == self.expect:
            result = {
                "stage": self.stage,
                "records": self.records,
                "first_record_at": self.first,
                "last_record_at": self.last,
            }
            partial = self.result.with_name(self.result.name + ".partial")
            partial.write_bytes(orjson.dumps(result))
            partial.replace(self.result)  # whole or not there


def _intake(count: _Count) -> Handler:
    def interaction_in(self: Any, batch: Batch, tp: TP, record: Any) -> None:
        self.p.telemetry.event("other", None, "scored")
        count()

    return interaction_in


def _contract(count: _Count) -> Handler:
    def interaction_in(self: Any, batch: Batch, tp: TP, record: Any) -> None:
        parsed = self.parse(record)  # the worker's own call of the contract
        if isinstance(parsed, Rejection):
            self.p.telemetry.event("invalid", None, "dead_lettered")
        else:
            interaction = parsed[1]
            self.p.telemetry.event(interaction.type, interaction.channel, "scored")
        count()

    return interaction_in


def _left_alone(self: Any, batch: Batch, tp: TP, record: Any) -> None:
    return None


STAGES: Final[dict[str, Callable[[_Count], Handler]]] = {
    "intake": _intake,
    "contract": _contract,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.stage_worker",
        description="The cx-streams worker, its input handling cut short after one stage.",
    )
    parser.add_argument("--stage", choices=sorted(STAGES), required=True)
    parser.add_argument(
        "--expect",
        type=int,
        required=True,
        help="interaction records to handle before the result is written",
    )
    parser.add_argument(
        "--result",
        type=Path,
        required=True,
        help="the JSON file to write when the records have been handled",
    )
    args = parser.parse_args(argv)
    count = _Count(args.expect, args.stage, args.result)
    handling: Any = agents._Handling
    handling.interaction_in = STAGES[args.stage](count)
    handling.profile_in = _left_alone
    handling.keyed_in = _left_alone
    return cli.main(["worker"])


if __name__ == "__main__":
    raise SystemExit(main())
