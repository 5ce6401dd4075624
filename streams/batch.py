"""One batch of events in an agent: the output it sent and the customer states it changed.

The rule that keeps a crash from losing an alert: a customer's new state is written to the
table (and so to its changelog) only after every record the batch produced has been
acknowledged by Kafka, and the batch's events are done (their offsets may be committed) only
once those writes are acknowledged too. After a crash, an event read again either finds its
effect in the recovered state, and then its output was acknowledged before, or it does not,
and then it is scored again and produces the same output with the same ids. Writing each
customer once per batch also turns many changelog records into one, as Kafka Streams' record
cache does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from streams.scoring.state import CustomerState

__all__ = ["Batch"]


class Batch:
    """Pending sends and changed states of one batch, settled together by `settle()`."""

    def __init__(
        self,
        table: Any,
        read: Callable[[str], CustomerState | None],
        make_current: Callable[[Any], None],
    ) -> None:
        self._table = table
        self._read = read
        self._make_current = make_current
        self._states: dict[str, CustomerState | None] = {}
        self._changed: dict[str, Any] = {}  # customer id -> the event that changed it last
        self._pending: list[Awaitable[Any]] = []

    def load(self, customer_id: str) -> CustomerState | None:
        """The customer's state as this batch left it so far (the table's, at first)."""
        if customer_id in self._states:
            return self._states[customer_id]
        state = self._states[customer_id] = self._read(customer_id)
        return state

    def changed(self, state: CustomerState, source: Any) -> None:
        """`state` is the customer's new state, caused by the event `source`."""
        self._states[state.customer_id] = state
        self._changed[state.customer_id] = source

    def sent(self, acknowledgement: Awaitable[Any]) -> None:
        """Wait for this record's acknowledgement before the batch's states are written."""
        self._pending.append(acknowledgement)

    async def settle(self) -> None:
        """Wait for every send; then write each changed state once, and wait for those writes.

        A failed send raises here, before any state is written. Faust takes a table write's
        partition (of the changelog, of the RocksDB store) from the current event, so each
        write is made with the event that last changed that customer made current.
        """
        if self._pending:
            await asyncio.gather(*self._pending)
            self._pending.clear()
        for customer_id, source in self._changed.items():
            state = self._states[customer_id]
            if state is not None:
                self._make_current(source)
                self._table[customer_id] = state.to_bytes()
        self._changed.clear()
        self._states.clear()
        await self._table.changelog_acknowledged()
