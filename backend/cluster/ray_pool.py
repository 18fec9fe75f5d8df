"""A pool of engine workers on a Ray cluster, and the ordered, fault-tolerant stream of a job's expressions.

Each worker is a Ray actor (backend/cluster/engine_worker.py) with one GPU on a GPU cluster, a few cores otherwise.
Ray restarts a worker whose process dies (max_restarts=-1); a call that was running on it fails with an actor error
and is given to another worker, so no expression is lost, and since each expression's result is kept once, none is
written twice. Expressions reach the caller in the job's order whichever worker finishes first.
"""
import itertools
import logging
import socket
import time
from collections import deque
from typing import Callable, Iterator

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from addon.core.errors import PromptFaceError
from backend.cluster.engine_worker import EngineWorker
from backend.engines import Engines
from backend.pipeline import GeneratedExpression, PipelineOptions, PreparedSubject

log = logging.getLogger(__name__)

# A worker that died (its process killed, its node gone): the call is given to another one.
WORKER_LOST = (RayActorError, ActorDiedError, ActorUnavailableError)
# How long the workers may take to describe themselves before one counts as down in health and engines (seconds).
DESCRIBE_TIMEOUT_S = 1.0
# How long starting workers may take to load their engines (seconds).
LOAD_TIMEOUT_S = 900.0
# How often a waiting job checks whether it was cancelled (seconds).
WAIT_SLICE_S = 0.5


class RayPool:
    """Workers on the cluster at `address` (None: a local Ray on this machine, started here)."""

    def __init__(self, engines_factory: Callable[[], Engines], workers: int | None = None,
                 address: str | None = None, cpus_per_worker: float = 1.0, worker_timeout_s: float = 600.0):
        self._engines_factory = engines_factory
        self._wanted, self._address = workers, address
        self._cpus_per_worker, self.worker_timeout_s = cpus_per_worker, worker_timeout_s
        self.workers: list = []
        self._turn = itertools.count()

    # -- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (or start a local Ray), then start the workers; each loads its engines."""
        if not ray.is_initialized():
            if self._address not in (None, "auto"):
                check_reachable(self._address)
            ray.init(address=self._address, include_dashboard=False, log_to_driver=False)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        resources = {"num_gpus": 1} if gpus else {"num_cpus": self._cpus_per_worker}
        count = self._wanted or (gpus or max(1, int(ray.cluster_resources().get("CPU", 1) // self._cpus_per_worker)))
        remote = ray.remote(max_restarts=-1, max_task_retries=0, **resources)(EngineWorker)
        self.workers = [remote.remote(self._engines_factory) for _ in range(count)]
        log.info("started %d Ray workers (%s each)", count, "1 GPU" if gpus else f"{self._cpus_per_worker:g} CPU")

    def stop(self) -> None:
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []

    # -- what the workers are -------------------------------------------------------------------------------------

    def describe(self, timeout_s: float = DESCRIBE_TIMEOUT_S) -> list[dict | None]:
        """Each worker's describe(), asked of all at once; None for one that has not answered within timeout_s in
        all (a worker Ray is restarting, or one that failed to load its engines)."""
        calls = [worker.describe.remote() for worker in self.workers]
        ray.wait(calls, num_returns=len(calls), timeout=timeout_s)
        described = []
        for call in calls:
            try:
                described.append(ray.get(call, timeout=0))
            except (GetTimeoutError, RayTaskError, *WORKER_LOST) as error:
                log.debug("a Ray worker did not describe itself: %s", error)
                described.append(None)
        return described

    # -- calls ----------------------------------------------------------------------------------------------------

    def call(self, method: str, *args, should_stop: Callable[[], None] | None = None):
        """method(*args) on one worker, on the next one when a worker is lost; the original error of a failed call
        (a PromptFaceError from the pipeline) is raised as itself."""
        deadline = time.monotonic() + self.worker_timeout_s
        while True:
            worker = self.workers[next(self._turn) % len(self.workers)]
            try:
                return self._wait(getattr(worker, method).remote(*args), deadline, should_stop)
            except WORKER_LOST:
                log.warning("a Ray worker was lost during %s; trying another", method)
                if time.monotonic() > deadline:
                    raise PromptFaceError(_no_workers_message(self.worker_timeout_s)) from None
                time.sleep(WAIT_SLICE_S / len(self.workers))  # Ray restarts it meanwhile

    def expressions(self, prepared: ray.ObjectRef, work: list[tuple[str, str]], options: PipelineOptions,
                    stop_if_asked: Callable[[], None]) -> Iterator[GeneratedExpression]:
        """Steps 5–9 of every (name, prompt), one call per prompt, at most one per worker at a time so that the work
        spreads and a lost worker loses one; yields the results in work's order."""
        waiting = deque(range(len(work)))
        running: dict[ray.ObjectRef, tuple[int, int]] = {}  # call → (work index, worker index)
        finished: dict[int, GeneratedExpression] = {}
        next_index, last_progress = 0, time.monotonic()
        lost_at: dict[int, float] = {}  # worker → when a call on it was lost (Ray is restarting it)
        try:
            while next_index < len(work):
                busy = {worker for _, worker in running.values()}
                for worker in range(len(self.workers)):
                    resting = time.monotonic() - lost_at.get(worker, -WAIT_SLICE_S) < WAIT_SLICE_S
                    if waiting and worker not in busy and not resting:
                        index = waiting.popleft()
                        name, prompt = work[index]
                        call = self.workers[worker].expression.remote(prepared, name, prompt, options)
                        running[call] = (index, worker)
                if running:
                    done, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SLICE_S)
                else:  # every worker is resting after a loss
                    done = []
                    time.sleep(WAIT_SLICE_S)
                stop_if_asked()
                for call in done:
                    index, worker = running.pop(call)
                    try:
                        finished[index] = _result(call)
                        last_progress = time.monotonic()
                    except WORKER_LOST:
                        log.warning("Ray worker %d was lost while making %r; it goes to another worker", worker,
                                    work[index][0])
                        waiting.appendleft(index)
                        lost_at[worker] = time.monotonic()
                if time.monotonic() - last_progress > self.worker_timeout_s:
                    raise PromptFaceError(_no_workers_message(self.worker_timeout_s))
                while next_index in finished:
                    yield finished.pop(next_index)
                    next_index += 1
        finally:
            for call in running:
                ray.cancel(call)

    def _wait(self, call: ray.ObjectRef, deadline: float, should_stop: Callable[[], None] | None):
        while True:
            done, _ = ray.wait([call], timeout=WAIT_SLICE_S)
            if done:
                return _result(call)
            if should_stop:
                should_stop()
            if time.monotonic() > deadline:
                ray.cancel(call)
                raise PromptFaceError(_no_workers_message(self.worker_timeout_s))


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a HOST:PORT nothing answers on before ray.init, which would wait minutes for it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise PromptFaceError(f"--ray-address {address!r} is not HOST:PORT (the cluster head's GCS port, 6379 by "
                              "default), nor 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise PromptFaceError(f"no Ray cluster answers at {address} ({error.strerror or error}); start its head with "
                              "`ray start --head` there, or check --ray-address") from None


def _result(call: ray.ObjectRef):
    try:
        return ray.get(call)
    except RayTaskError as error:
        cause = error.cause
        if isinstance(cause, PromptFaceError):
            raise cause from None
        raise


def _no_workers_message(seconds: float) -> str:
    return (f"no cluster worker has finished anything for {seconds:g} s (all workers gone or busy elsewhere); start "
            "workers on the cluster (`ray start --address HEAD:6379` on a GPU node) and submit the job again")


def prepared_in_store(prepared: PreparedSubject) -> ray.ObjectRef:
    """The calibrated subject in Ray's object store, read by every worker's calls without another copy."""
    return ray.put(prepared)
