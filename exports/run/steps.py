"""What a link returns, and so what its `export_batch` task does next."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RunFailed(Exception):
    """A link ended its run `failed` (the run row and the cursor say why): its task ends in
    Celery's FAILURE state with this message, so Flower's failed tasks list it."""


@dataclass(frozen=True)
class Next:
    """The run goes on: the next link starts after record `after_id`."""

    after_id: int


@dataclass(frozen=True)
class RetryLater:
    """The call failed transiently: send it again later, after record `after_id`; with pause
    off only the records `only` (those not yet done), up to record `until_id`."""

    after_id: int
    only: tuple[int, ...] = ()
    until_id: int | None = None


class StopReason(enum.Enum):
    """Why no link follows this one."""

    RUN_ENDED = "run_ended"  # the run ended: its outcome is on its row (`Stopped.outcome`)
    STALE = "stale"  # not the run's current link (a copy, another holds the claim, over)
    REFUSED = "refused"  # its retry arguments are not the retry the cursor waits for
    LOST_RACE = "lost_race"  # another link moved the cursor first


@dataclass(frozen=True)
class Stopped:
    """No link follows: the run ended with `outcome` (RUN_ENDED), or this link had nothing
    to do and the run goes on without it."""

    reason: StopReason
    outcome: str = ""


@dataclass(frozen=True)
class Wait:
    """This link's own claim is live (a copy of it may still be sending, or its worker is
    gone): the task looks again in `seconds`, once the claim has expired; nothing sent."""

    seconds: float


LinkStep = Next | RetryLater | Stopped | Wait

RUN_ENDED = StopReason.RUN_ENDED
STALE = StopReason.STALE
REFUSED = StopReason.REFUSED
LOST_RACE = StopReason.LOST_RACE
