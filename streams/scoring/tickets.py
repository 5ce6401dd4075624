"""Ticket lifecycles, whatever order their events arrive in, and time to resolution (TTR).

A ticket record is `[opened_at, status_at, is_open, pending, opened_by]`: the earliest opening
seen, the event time of the newest status change, whether that change left it open,
resolutions that arrived before the opening (their TTR is known once it arrives), and the id
of the opening event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.scoring.interaction import Interaction

__all__ = ["Resolution", "TicketRecord", "open_tickets", "track_ticket"]

#: [opened_at | None, status_at, is_open, pending [[resolved_at, event_id, keys]], opened_by]
TicketRecord = list[Any]

_MAX_PENDING = 4


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolution whose duration is now known, credited to the resolving event."""

    ticket_id: str
    seconds: float
    resolved_at: float
    event_id: str
    keys: tuple[str, ...]


def track_ticket(
    tickets: dict[str, TicketRecord], event: Interaction, keys: tuple[str, ...], limit: int
) -> list[Resolution]:
    """Apply a ticket_* event; return the resolutions it makes measurable."""
    ticket, t = event.ticket_id, event.occurred_at
    if ticket is None:
        return []
    record = tickets.get(ticket)
    if record is None:
        record = tickets[ticket] = [None, None, False, [], None]
    found: list[Resolution] = []
    if event.type == "ticket_opened":
        if record[0] is None or (t, event.event_id) < (record[0], record[4]):
            record[0], record[4] = t, event.event_id
        for resolved_at, event_id, pending_keys in record[3]:
            seconds = max(0.0, resolved_at - record[0])
            found.append(Resolution(ticket, seconds, resolved_at, event_id, tuple(pending_keys)))
        record[3] = []
        _set_status(record, t, is_open=True)
    elif event.type == "ticket_reopened":
        _set_status(record, t, is_open=True)
    elif event.type == "ticket_resolved":
        _set_status(record, t, is_open=False)
        if event.resolution_seconds is not None:
            found.append(Resolution(ticket, event.resolution_seconds, t, event.event_id, keys))
        elif record[0] is not None:
            found.append(Resolution(ticket, max(0.0, t - record[0]), t, event.event_id, keys))
        elif len(record[3]) < _MAX_PENDING:
            record[3].append([t, event.event_id, list(keys)])
    _bound(tickets, limit)
    return found


def _set_status(record: TicketRecord, t: float, *, is_open: bool) -> None:
    # The newest event time decides; at a tie, resolved wins, so arrival order never matters.
    if record[1] is None or t > record[1] or (t == record[1] and not is_open):
        record[1], record[2] = t, is_open


def open_tickets(tickets: dict[str, TicketRecord]) -> list[tuple[str, float, str | None]]:
    """Open tickets: id, the time they have been open since (the opening, if known), and the
    opening event's id."""
    return [
        (ticket, record[0] if record[0] is not None else record[1], record[4])
        for ticket, record in tickets.items()
        if record[2]
    ]


def _bound(tickets: dict[str, TicketRecord], limit: int) -> None:
    """Forget the tickets whose status is oldest; closed ones before open ones."""
    while len(tickets) > limit:
        victim = min(tickets, key=lambda k: (tickets[k][2], tickets[k][1] or 0.0, k))
        del tickets[victim]
