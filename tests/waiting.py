"""Waiting for a job (or anything a test polls) in one place: ask again every INTERVAL seconds until it is what the
test wants, and fail naming what was last seen when it takes longer than the timeout."""
import time
from typing import Callable, TypeVar

Seen = TypeVar("Seen")

INTERVAL = 0.05


def wait_for(read: Callable[[], Seen], until: Callable[[Seen], bool], timeout: float = 60.0,
             what: str = "the job") -> Seen:
    """read() until until(what it returned) holds; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        if until(seen):
            return seen
        assert time.monotonic() < deadline, f"{what} did not get there within {timeout:.0f} s: {seen}"
        time.sleep(INTERVAL)


def finished(job) -> bool:
    """A job (a JobInfo or its wire dict) that will not change any more."""
    status = job["status"] if isinstance(job, dict) else job.status
    return status in ("succeeded", "failed", "cancelled")
