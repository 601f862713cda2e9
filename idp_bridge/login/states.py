"""The login session's states and the moves between them (SPEC §7, §15 "one scanner").

A login session is shared by the browser that shows the QR code and by whoever scans it, across worker
processes. Every change is therefore a compare-and-set on the database row (``transition``), and this table
is the only description of which changes exist: a path that is not listed here cannot happen.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where one login session stands."""

    WAITING = "waiting"  # QR shown, nobody has scanned
    SCANNED = "scanned"  # the first scanner is fixed (its openid); the decision is being made
    BINDING = "binding"  # the page asks this browser for a one-time binding code
    CONFIRM = "confirm"  # the scanner must reply the page's code in WeChat
    SUCCEEDED = "succeeded"  # decided: the browser may complete the authorization once
    COMPLETED = "completed"  # the browser consumed the success
    REFUSED = "refused"  # decided: no (blocked, not registered, too many wrong codes…)
    EXPIRED = "expired"  # the QR code's life ended before a decision


#: States in which the QR code (or the code form) is still in play and the page keeps listening.
LIVE = frozenset({State.WAITING, State.SCANNED, State.BINDING, State.CONFIRM})

#: Every allowed move. Attempt counting inside BINDING/CONFIRM is not a move (see ``sessions.count_attempt``).
MOVES: dict[State, frozenset[State]] = {
    State.WAITING: frozenset({State.SCANNED, State.EXPIRED}),
    State.SCANNED: frozenset({State.SUCCEEDED, State.BINDING, State.CONFIRM, State.REFUSED, State.EXPIRED}),
    State.BINDING: frozenset({State.SUCCEEDED, State.CONFIRM, State.REFUSED, State.EXPIRED}),
    State.CONFIRM: frozenset({State.SUCCEEDED, State.REFUSED, State.EXPIRED}),
    State.SUCCEEDED: frozenset({State.COMPLETED}),
    State.COMPLETED: frozenset(),
    State.REFUSED: frozenset(),
    State.EXPIRED: frozenset(),
}


class IllegalMove(ValueError):
    """A programming error: code asked for a move the table does not allow."""


def check_move(source: State, target: State) -> None:
    if target not in MOVES[source]:
        raise IllegalMove(f"a login session cannot go from {source} to {target}")
