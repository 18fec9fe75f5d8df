"""The network side of Generate and Connect/Test, run on a worker thread. Pure: no bpy.

The worker never touches Blender data. It talks to a backend (any transport) and puts events on a queue; Blender's
main thread drains the queue (generation/session.py). Every task ends with exactly one Finished or Failed event.

While a job runs, the job's partial expression set is mirrored into a local folder: base files first, then each
finished expression's files, and the manifest last (renamed into place), so the folder is a valid expression set
at every moment and only ever grows.
"""
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..core.atomic_files import hidden_sibling, write_bytes_atomically
from ..core.errors import PromptFaceError
from ..core.expression_set import MANIFEST_FILE, manifest_file_names
from ..core.protocol import FINISHED_STATUSES, EngineList, Health, JobInfo, JobRequest
from ..transports.errors import BackendError, ConnectionLost

log = logging.getLogger(__name__)

# Names the worker will write into its folder: plain file names only, never a path.
SAFE_ASSET_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Files a manifest stands for that the reader does not need (OBJ materials): a server may not have them.
OPTIONAL_SUFFIXES = (".mtl",)
TRANSIENT_CODES = ("unreachable", "timeout", "connection_lost")
MAX_TRANSIENT_FAILURES = 3
MAX_QUEUE_WAIT_S = 600.0
# How long to wait, after asking, for the server to report the job cancelled (it finishes the current expression).
CANCEL_CONFIRM_TIMEOUT_S = 120.0


# ---------------------------------------------------------------------------------------------------------------
# Events (worker → main thread)


@dataclass(frozen=True)
class Progress:
    fraction: float
    """0..1 of the whole task."""
    message: str


@dataclass(frozen=True)
class Note:
    """Something the user should read that is not an error (e.g. which face was picked)."""
    message: str


@dataclass(frozen=True)
class Connected:
    address: str
    health: Health
    engines: EngineList


@dataclass(frozen=True)
class JobStarted:
    job_id: str
    folder: Path
    """The local mirror of the job's expression set."""
    expressions: list[str]
    """Expression names, in the order the job makes them."""


@dataclass(frozen=True)
class SetUpdated:
    folder: Path
    """A valid (partial) expression set: read it again."""
    new_names: list[str]
    """Expressions that are in the local set since this update."""
    pending: list[str]
    """Expressions the server had not finished when this update was downloaded."""


@dataclass(frozen=True)
class Finished:
    """The task ended: for a job, with its final status ("succeeded", "failed" or "cancelled")."""
    status: str
    message: str
    job_id: str | None = None


@dataclass(frozen=True)
class Failed:
    """The task stopped on an error; `message` says what to do."""
    message: str
    code: str | None = None
    job_id: str | None = None


TERMINAL_EVENTS = (Finished, Failed)


# ---------------------------------------------------------------------------------------------------------------
# Requests and the task that runs them


@dataclass(frozen=True)
class GenerateRequest:
    photo: Path
    prompts: list[str]
    editor: str
    reconstructor: str
    cache_root: Path
    """Each job's files go to cache_root/<job id>/."""
    poll_interval_s: float = 0.5
    options: dict = field(default_factory=dict)


class Task:
    """One worker thread, its event queue and its cancel flag."""

    def __init__(self, kind: str, work: Callable[["Task"], None]):
        self.kind = kind
        self.events: queue.Queue = queue.Queue()
        self.cancelled = threading.Event()
        self.job_id: str | None = None
        self._work = work
        self._thread = threading.Thread(target=self._run, name=f"promptface-{kind}", daemon=True)

    def start(self) -> "Task":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def put(self, event) -> None:
        self.events.put(event)

    def _run(self) -> None:
        try:
            self._work(self)
        except BackendError as error:
            self.put(Failed(error.message, error.code, self.job_id))
        except PromptFaceError as error:
            self.put(Failed(str(error), None, self.job_id))
        except OSError as error:
            self.put(Failed(f"cannot write the downloaded files: {error}", "os_error", self.job_id))
        except Exception as error:  # a bug: say so instead of leaving the panel busy forever
            log.exception("PromptFace %s task failed", self.kind)
            self.put(Failed(f"internal error in the add-on ({type(error).__name__}: {error}); see the console",
                            "internal", self.job_id))


def check_connection(task: Task, open_backend: Callable[[], object], address: str) -> None:
    """Connect/Test: health, engines and (where the transport has one) the token."""
    task.put(Progress(0.1, f"connecting to {address}"))
    backend = open_backend()
    try:
        health = backend.health()
        task.put(Progress(0.5, "asking for the engines"))
        engines = backend.engines()
        if hasattr(backend, "check_token"):
            backend.check_token()
    finally:
        backend.close()
    task.put(Connected(address, health, engines))
    task.put(Finished("succeeded", f"connected to {address} (PromptFace {health.version}, API {health.api_version})"))


def generate(task: Task, open_backend: Callable[[], object], request: GenerateRequest) -> None:
    """Generate: upload the photo, start the job, mirror its expression set as it grows, until it ends."""
    # 1. Connect.
    task.put(Progress(0.0, "connecting"))
    backend = open_backend()
    try:
        backend.health()
        if task.cancelled.is_set():
            task.put(Finished("cancelled", "cancelled before the job started"))
            return
        # 2. The subject (photo upload and calibration).
        task.put(Progress(0.02, f"uploading {request.photo.name}"))
        subject = backend.create_subject(request.photo)
        for note in subject.notes:
            task.put(Note(note))
        # 3. The job.
        job = _create_job(task, backend, JobRequest(subject_id=subject.subject_id, prompts=list(request.prompts),
                                                    editor=request.editor, reconstructor=request.reconstructor,
                                                    options=dict(request.options)))
        if job is None:
            task.put(Finished("cancelled", "cancelled before the job started"))
            return
        task.job_id = job.job_id
        folder = request.cache_root / job.job_id
        folder.mkdir(parents=True, exist_ok=True)
        task.put(JobStarted(job.job_id, folder, [expression.name for expression in job.expressions]))
        # 4. Follow it, mirroring each newly finished expression.
        job = _follow(task, backend, job, SetMirror(backend, job.job_id, folder), request.poll_interval_s)
    finally:
        backend.close()
    message = job.error or job.message or job.status
    task.put(Finished(job.status, message, job.job_id))


def _create_job(task: Task, backend, job_request: JobRequest) -> JobInfo | None:
    """create_job, waiting out a full queue (429 with Retry-After) for up to MAX_QUEUE_WAIT_S; None when cancelled
    while waiting."""
    waited = 0.0
    while True:
        try:
            return backend.create_job(job_request)
        except BackendError as error:
            if error.code != "queue_full" or waited >= MAX_QUEUE_WAIT_S:
                raise
            delay = float(error.retry_after or 5)
            task.put(Progress(0.05, f"the server's queue is full; trying again in {delay:g} s"))
            if task.cancelled.wait(delay):
                return None
            waited += delay


def _follow(task: Task, backend, job: JobInfo, mirror: "SetMirror", poll_interval_s: float) -> JobInfo:
    seen = None
    cancel_sent: float | None = None  # when the cancel request went out
    failures = 0
    while True:
        signature = (tuple(job.files), job.status)
        if MANIFEST_FILE in job.files and signature != seen:
            new_names = mirror.sync()
            seen = signature
            if new_names or mirror.changed:
                pending = [e.name for e in job.expressions if e.status != "done" and e.name not in mirror.names]
                task.put(SetUpdated(mirror.folder, new_names, pending))
        task.put(Progress(_fraction(job), _job_message(job)))
        if job.status in FINISHED_STATUSES:  # the manifest was fetched after this status: it is the final one
            return job
        if cancel_sent is None:
            task.cancelled.wait(poll_interval_s)  # returns at once when Cancel is pressed
        elif time.monotonic() - cancel_sent > CANCEL_CONFIRM_TIMEOUT_S:
            return replace(job, status="cancelled", message=f"cancel requested; the server had not confirmed it "
                                                            f"after {CANCEL_CONFIRM_TIMEOUT_S:g} s")
        else:
            time.sleep(poll_interval_s)  # the cancel flag stays set: wait for the server to stop the job
        try:
            if task.cancelled.is_set() and cancel_sent is None:
                task.put(Progress(_fraction(job), "cancelling the job"))
                job = backend.cancel(job.job_id)
                cancel_sent = time.monotonic()
            else:
                job = backend.job_status(job.job_id)
            failures = 0
        except BackendError as error:
            failures += 1
            if error.code not in TRANSIENT_CODES or failures > MAX_TRANSIENT_FAILURES:
                raise
            retry = f"trying again ({failures}/{MAX_TRANSIENT_FAILURES})"
            task.put(Progress(_fraction(job), f"{error.message} — {retry}"))
            if isinstance(error, ConnectionLost) and hasattr(backend, "reconnect"):
                backend.reconnect()
            task.cancelled.wait(poll_interval_s * 2 ** failures)


def _fraction(job: JobInfo) -> float:
    """The job's progress as a part of the whole task (connecting and uploading take the first 5 %)."""
    return 0.05 + 0.95 * job.progress


def _job_message(job: JobInfo) -> str:
    done = sum(1 for expression in job.expressions if expression.status == "done")
    counts = f"{done}/{len(job.expressions)} expressions"
    if job.status == "queued" and job.position is not None:
        return f"queued (place {job.position + 1}); {counts}"
    return f"{job.message or job.status}; {counts}"


# ---------------------------------------------------------------------------------------------------------------
# The local mirror of a job's expression set


class SetMirror:
    """A local copy of a job's (partial) expression set that is valid after every sync()."""

    def __init__(self, backend, job_id: str, folder: Path):
        self.backend, self.job_id, self.folder = backend, job_id, folder
        self.names: list[str] = []
        self.changed = False
        self._downloaded: set[str] = set()
        self._manifest_bytes = b""

    def sync(self) -> list[str]:
        """Fetch the server's manifest, then every file it names that is not here yet, then put the manifest in
        place. Returns the expression names that are new locally; `changed` tells whether the manifest changed."""
        data = self._fetch_manifest()
        self.changed = data != self._manifest_bytes
        if not self.changed:
            return []
        try:
            manifest = json.loads(data.decode("utf-8"))
            wanted = files_to_download(manifest)
            names = [record["name"] for record in manifest.get("expressions", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackendError("protocol", f"the server sent a manifest.json for job {self.job_id} that cannot be "
                                           f"read ({error})") from None
        for name in wanted:
            if name not in self._downloaded:
                try:
                    self.backend.fetch_asset(self.job_id, name, self.folder / name)
                except BackendError as error:
                    if not (error.code == "not_found" and name.endswith(OPTIONAL_SUFFIXES)):
                        raise
                self._downloaded.add(name)
        write_bytes_atomically(self.folder / MANIFEST_FILE, data)
        self._manifest_bytes = data
        new = [name for name in names if name not in self.names]
        self.names = names
        return new

    def _fetch_manifest(self) -> bytes:
        """The server's manifest.json now, fetched beside the local one (which it replaces only once the files it
        names are here)."""
        fetched = hidden_sibling(self.folder / MANIFEST_FILE, "next")
        try:
            self.backend.fetch_asset(self.job_id, MANIFEST_FILE, fetched)
            return fetched.read_bytes()
        finally:
            fetched.unlink(missing_ok=True)


def files_to_download(manifest: dict) -> list[str]:
    """The files a job's manifest names besides itself, base files first, each checked to be a plain file name
    (the worker writes them into its folder: never a path from the server)."""
    names = [name for name in manifest_file_names(manifest) if name != MANIFEST_FILE]
    unsafe = [name for name in names if not isinstance(name, str) or not SAFE_ASSET_NAME.match(name)]
    if unsafe:
        raise ValueError(f"it names files that are not plain file names: {unsafe[:3]}")
    return names
