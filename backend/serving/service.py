"""The backend as a service: subjects, a job queue, one worker thread that owns the engines, a store that survives
restarts. Transport-neutral: the HTTP app (backend/serving/http_api) and the JSON-lines server
(backend/serving/stdio_server) call these methods, send their protocol.py replies, and turn ServiceError into an
ErrorReply.

Its files live under settings.data_dir (backend/serving/data_dir.py). A job that failed or was cancelled keeps
partial/ (what was done), or result/ when its set was complete (a zip that could not be written). Jobs a crash left
running are settled at start (backend/serving/recovery.py). Retention (settings.keep_days, settings.max_disk_bytes)
removes finished jobs and idle subjects, oldest first; what a queued or running job needs is never removed
(backend/serving/retention.py).
"""
import hashlib
import logging
import math
import os
import re
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Callable

from addon.core.atomic_files import write_bytes_atomically
from addon.core.errors import PromptFaceError
from addon.core.expression_set import zip_expression_set
from addon.core.protocol import (API_VERSION, FINISHED_STATUSES, Deleted, EngineList, ExpressionProgress, Health,
                                 JobInfo, JobRequest, SubjectInfo)
from backend.errors import InputImageError, public_message
from backend.serving import retention
from backend.serving.data_dir import STORE_FILE, ZIP_FILE, job_dir, photo_path, private_folder, remove
from backend.serving.errors import ServiceError
from backend.serving.job_files import asset_file, check_asset_name, job_set_files, set_zip_file, zip_gone
from backend.serving.job_requests import check_job_request, photo_gone, queued_job
from backend.serving.job_store import StoredJob, JobStore, StoredSubject, now
from backend.serving.loaded_engines import EngineSource, LoadedEngines
from backend.serving.recovery import recover_running_jobs
from backend.serving.subject_cache import PreparedSubjects
from backend.serving.uploads import check_photo_header, check_photo_size, display_name, store_subject
from backend.settings import Settings
from backend.engines import Engines
from backend.pipeline import PreparedSubject, JobCancelled, PipelineOptions

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# The worker applies retention when it starts, after each job, and at least this often while idle (seconds).
RETENTION_INTERVAL = 3600.0


class Service:
    """Subjects and expression jobs over one warm set of engines.

    Every method may be called from any thread. The engines are used by the worker thread only: it loads them
    (engines_factory()) when start() is called, runs the jobs in submission order, and calibrates new subjects —
    between two expressions of a running job, so an upload does not wait for a long job.
    """

    def __init__(self, settings: Settings, engines_factory: Callable[[], Engines] = Engines.load,
                 engine_source: EngineSource | None = None):
        """engine_source: where the jobs run (default: engines_factory()'s engines in this process; a Ray cluster:
        backend/cluster/cluster_engines.py)."""
        self.settings = settings
        self._state = "stopped"            # stopped → loading → ok | error (engines failed to load)
        self._engines = engine_source or LoadedEngines(engines_factory)
        self._condition = threading.Condition()
        self._queue: deque[str] = deque()  # queued job ids, next first
        self._tasks: deque[tuple[Callable, Future]] = deque()  # work for the worker (subject calibration)
        self._running: str | None = None
        self._cancel_requested: set[str] = set()
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._prepared = PreparedSubjects()  # the worker's cache of calibrations
        self._seconds_per_expression = 2.0  # running estimate, for Retry-After
        self._store: JobStore | None = None
        self._waiting_uploads = 0          # request threads waiting in _on_worker for a calibration

    # -----------------------------------------------------------------------------------------------------------
    # Life cycle

    def start(self) -> None:
        """Open the store, settle jobs a crash left running, re-queue the queued ones, start the worker."""
        with self._condition:
            if self._worker is not None:
                raise RuntimeError("the service is already started")
            data_dir = self.settings.data_dir
            for folder in (data_dir, data_dir / "subjects", data_dir / "jobs"):
                private_folder(folder)
            self._store = JobStore(data_dir / STORE_FILE)
            for path in data_dir.glob(STORE_FILE + "*"):  # the store and its WAL files
                os.chmod(path, 0o600)
            self._queue.clear()
            self._cancel_requested.clear()
            recover_running_jobs(self._store, data_dir, finish=self._finish, fail=self._fail)
            self._queue.extend(row.job_id for row in self._store.jobs("queued"))
            self._stopping, self._state = False, "loading"
            self._worker = threading.Thread(target=self._work, name="promptface-worker", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current expression: the running job goes back to the head of the queue (it runs again on
        the next start), waiting calibrations are refused, the store is closed."""
        with self._condition:
            worker, self._stopping = self._worker, True
            self._condition.notify_all()
        if worker is not None:
            worker.join(timeout)
            if worker.is_alive():
                log.warning("the worker did not stop within %.0f s; its job is settled on the next start", timeout)
                return
        with self._condition:
            self._worker, self._state = None, "stopped"
            if self._store is not None:
                self._store.close()
                self._store = None

    # -----------------------------------------------------------------------------------------------------------
    # Requests

    @property
    def waiting_uploads(self) -> int:
        """Uploads waiting for the worker now."""
        return self._waiting_uploads

    def health(self) -> Health:
        return Health(status=self._state, api_version=API_VERSION, version=VERSION,
                      workers_up=self._engines.workers_up())

    def engines(self) -> EngineList:
        return self._engines.listing(self.settings.data_dir)

    def create_subject(self, photo_bytes: bytes, filename: str) -> SubjectInfo:
        """Calibrate a neutral photo once (the same bytes give the same subject) and keep it for later jobs."""
        # 1. Limits and the image header, before any pixel is decoded.
        check_photo_size(photo_bytes, self.settings.max_upload_bytes)
        sha256 = hashlib.sha256(photo_bytes).hexdigest()
        subject_id = sha256[:32]
        known = self._store_now().subject(subject_id)
        if known is not None:
            photo_file = self._photo_path(known)
            if not photo_file.is_file():  # removed from disk: the same bytes put it back
                write_bytes_atomically(photo_file, photo_bytes, mode=0o600)
            return SubjectInfo(**known.info)
        shown_name = display_name(filename)
        check_photo_header(photo_bytes, shown_name, self.settings.max_pixels)
        # 2. Calibrate on the worker (it owns the engines), persist photo and info.
        return self._on_worker(lambda: self._new_subject(subject_id, photo_bytes, shown_name))

    def create_job(self, request: JobRequest) -> JobInfo:
        """Check the request completely, then queue it (or refuse with queue_full and a Retry-After)."""
        subject = self._store_now().subject(request.subject_id) if isinstance(request.subject_id, str) else None
        options = check_job_request(request, subject, self.settings, self._engines.checker())
        with self._condition:
            store = self._store_now()
            if self._stopping:
                raise ServiceError("internal", "the server is shutting down; submit the job again in a moment")
            limit = self.settings.queue_depth * self._engines.capacity()  # a cluster queues for each worker
            if len(self._queue) >= limit:
                raise ServiceError("queue_full", f"{len(self._queue)} jobs are waiting, the most this server "
                                                 f"queues (--queue-depth {self.settings.queue_depth} per worker, "
                                                 f"{self._engines.capacity()} working); try again later",
                                   retry_after=self._retry_after())
            if store.subject(request.subject_id) is None:  # deleted since the request was checked
                raise ServiceError("not_found", f"subject '{request.subject_id}' was just deleted; upload the "
                                                "photo again")
            job_id = uuid.uuid4().hex
            store.add_job(queued_job(job_id, request, options))
            self._queue.append(job_id)
            self._condition.notify_all()
        return self.job_status(job_id)

    def job_status(self, job_id: str) -> JobInfo:
        row = self._job(job_id)
        with self._condition:
            position = self._queue.index(job_id) if row.status == "queued" and job_id in self._queue else None
        return JobInfo(job_id=row.job_id, subject_id=row.subject_id, status=row.status,
                       progress=round(row.progress, 4), message=row.message,
                       expressions=[ExpressionProgress(**item) for item in row.expressions],
                       files=job_set_files(self._job_dir(row.job_id), row.status)[1], position=position,
                       error=row.error, created=row.created, finished=row.finished)

    def asset_path(self, job_id: str, name: str) -> Path:
        """The file `name` of a job's current set (JobInfo.files): never anything else."""
        check_asset_name(name)
        row = self._job(job_id)
        return asset_file(self._job_dir(row.job_id), row, name)

    def set_zip_path(self, job_id: str) -> Path:
        row = self._job(job_id)
        return set_zip_file(self._job_dir(row.job_id), row)

    def open_set_zip(self, job_id: str) -> BinaryIO:
        """The zip of a succeeded job, open for reading (removing the file now no longer pulls it away)."""
        try:
            return self.set_zip_path(job_id).open("rb")
        except FileNotFoundError:
            raise ServiceError("not_found", zip_gone(job_id)) from None

    def cancel(self, job_id: str) -> JobInfo:
        """A queued job is cancelled at once, a running one after its current expression; finished ones stay."""
        self._job(job_id)  # not_found for an unknown id
        with self._condition:  # the worker takes jobs off the queue under this lock: no cancel gets lost
            if job_id in self._queue:
                self._queue.remove(job_id)
                self._store.update_job(job_id, status="cancelled", finished=now(),
                                       message="cancelled before it started")
            elif job_id == self._running:
                self._cancel_requested.add(job_id)
                self._store.update_job(job_id, message="cancelling after the current expression")
        return self.job_status(job_id)

    def delete_job(self, job_id: str) -> Deleted:
        """Remove a finished job and its files; a queued or running one must be cancelled first."""
        row = self._job(job_id)
        with self._condition:
            if row.job_id in self._queue or row.job_id == self._running or row.status not in FINISHED_STATUSES:
                raise ServiceError("not_ready", f"job {job_id} is {row.status}; cancel it first, then delete it")
            retention.remove_job(self._store, self.settings.data_dir, row.job_id)
        return Deleted(kind="job", id=job_id)

    def delete_subject(self, subject_id: str) -> Deleted:
        """Remove a subject: its photo, its calibration and its finished jobs; refused while a job of it waits or
        runs."""
        store = self._store_now()
        if not isinstance(subject_id, str) or store.subject(subject_id) is None:
            raise ServiceError("not_found", f"no subject '{subject_id}' on this server")
        with self._condition:
            busy = [row.job_id for row in store.jobs_of_subject(subject_id) if row.status not in FINISHED_STATUSES]
            if busy:
                raise ServiceError("not_ready", f"subject {subject_id} has {len(busy)} queued or running job(s) "
                                                f"({', '.join(busy[:3])}); cancel them first, then delete it")
            jobs = self._delete_subject(subject_id)
        return Deleted(kind="subject", id=subject_id, jobs_deleted=jobs)

    # -----------------------------------------------------------------------------------------------------------
    # Checks and lookups (any thread)

    def _store_now(self) -> JobStore:
        store = self._store
        if store is None:
            raise ServiceError("internal", "the service is not started")
        return store

    def _job(self, job_id) -> StoredJob:
        row = self._store_now().job(job_id) if isinstance(job_id, str) and JOB_ID.fullmatch(job_id) else None
        if row is None:
            raise ServiceError("not_found", f"no job '{job_id}' on this server (job ids come from creating a job)")
        return row

    def _job_dir(self, job_id: str) -> Path:
        return job_dir(self.settings.data_dir, job_id)

    def _photo_path(self, subject: StoredSubject) -> Path:
        return photo_path(self.settings.data_dir, subject)

    def _retry_after(self) -> int:
        """Seconds until a queue slot is likely to free: the running job's expressions left."""
        remaining = 1
        if self._running is not None:
            row = self._store.job(self._running)
            if row is not None:
                remaining = max(1, sum(item["status"] != "done" for item in row.expressions))
        return max(1, min(300, math.ceil(remaining * self._seconds_per_expression)))

    # -----------------------------------------------------------------------------------------------------------
    # The worker thread

    def _on_worker(self, function: Callable):
        """Run function on the worker thread and return its result (or raise its error) here. At most
        settings.max_waiting_uploads callers wait at once, each at most settings.upload_wait_seconds: the others
        are told the server is busy (and when to try again) instead of holding a request thread."""
        future: Future = Future()
        task = (function, future)
        with self._condition:
            if self._worker is None or self._stopping or not self._worker.is_alive():
                raise ServiceError("internal", "the service is not running; try again in a moment")
            if self._waiting_uploads >= self.settings.max_waiting_uploads:
                raise ServiceError("busy", f"{self._waiting_uploads} uploads are already waiting for this server's "
                                           "worker; send the photo again in a moment",
                                   retry_after=self._retry_after())
            self._waiting_uploads += 1
            self._tasks.append(task)
            self._condition.notify_all()
        try:
            return future.result(timeout=self.settings.upload_wait_seconds)
        except FutureTimeout:
            with self._condition:
                if task in self._tasks:  # not started: withdraw it
                    self._tasks.remove(task)
            raise ServiceError("busy", f"the worker did not get to this photo within "
                                       f"{self.settings.upload_wait_seconds:.0f} s (a long job is running); send "
                                       "it again later", retry_after=self._retry_after()) from None
        finally:
            with self._condition:
                self._waiting_uploads -= 1

    def _work(self) -> None:
        try:
            self._serve_queue()
        except BaseException:  # a bug or a broken store: say so in health rather than hang silently
            log.exception("the worker stopped")
            self._state = "error"
        finally:
            with self._condition:
                refused, self._tasks = list(self._tasks), deque()
            for _, future in refused:
                future.set_exception(ServiceError("internal", "the server is shutting down or its worker stopped; "
                                                              "try again in a moment"))

    def _serve_queue(self) -> None:
        self.apply_retention()
        self._state = "ok" if self._engines.load() else "error"
        while True:
            with self._condition:
                while not (self._stopping or self._tasks or self._queue):
                    if not self._condition.wait(timeout=RETENTION_INTERVAL):
                        self.apply_retention()
                if self._stopping:
                    break
                task = self._tasks.popleft() if self._tasks else None
                job_id = None if task else self._queue.popleft()
                if job_id:
                    self._running = job_id
                    self._store.update_job(job_id, status="running", started=now(), message="starting")
            if task:
                self._run_task(*task)
            else:
                try:
                    self._run_job(job_id)
                finally:
                    with self._condition:
                        self._running = None
                        self._cancel_requested.discard(job_id)
                self.apply_retention()

    def _run_task(self, function: Callable, future: Future) -> None:
        try:
            future.set_result(function())
        except BaseException as error:  # handed to the waiting request thread
            future.set_exception(error)

    def _run_pending_tasks(self) -> None:
        while True:
            with self._condition:
                if not self._tasks:
                    return
                task = self._tasks.popleft()
            self._run_task(*task)

    def _new_subject(self, subject_id: str, photo_bytes: bytes, shown_name: str) -> SubjectInfo:
        known = self._store.subject(subject_id)  # the same photo may have been sent twice at once
        if known is not None:
            return SubjectInfo(**known.info)
        try:
            prepared = self._prepare(subject_id, photo_bytes, shown_name, PipelineOptions())
        except ServiceError:
            raise
        except InputImageError as error:
            raise ServiceError("bad_request", str(error)) from None
        except PromptFaceError as error:
            raise ServiceError("invalid", str(error)) from None
        return store_subject(self._store, self.settings.data_dir, subject_id, photo_bytes, shown_name, prepared)

    def _prepare(self, subject_id: str, photo_bytes: bytes, photo_name: str,
                 options: PipelineOptions) -> PreparedSubject:
        """The subject prepared for these options, from the cache or now (it depends on the subject and on the
        options that shape the neutral and the photo as taken: all but the editor)."""
        key = (subject_id, replace(options, editor=""))  # everything but the editor shapes it
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._engines.prepare(photo_bytes, photo_name, options, self.settings.data_dir)
            self._prepared.put(key, prepared, keep=self.settings.subject_cache)
        return prepared

    def _run_job(self, job_id: str) -> None:
        row = self._store.job(job_id)
        request = row.request
        options = PipelineOptions(editor=request["editor"], reconstructor=request["reconstructor"],
                                  **request["options"])
        folder = self._job_dir(job_id)
        remove(folder / "partial")  # from a run that a clean stop interrupted
        private_folder(folder)
        expressions = row.expressions
        progress = {"last": 0.0}

        def report(fraction: float, message: str) -> None:
            progress["last"] = fraction
            self._store.update_job(job_id, progress=fraction, message=message)

        def expression_done(result, index: int, total: int) -> None:
            expressions[index - 1]["status"] = "done"
            expressions[index - 1]["reads_as"] = result.data.reads_as
            self._store.update_job(job_id, expressions=expressions, progress=index / (total + 1))
            if self._stop_requested(job_id):  # also after the last one: a cancel is a cancel
                raise JobCancelled("cancelled")

        def between_expressions() -> bool:
            self._run_pending_tasks()  # uploads waiting for a calibration go first
            return self._stop_requested(job_id)

        try:
            report(0.0, "calibrating the subject")
            subject = self._store.subject(row.subject_id)
            try:
                photo_bytes = self._photo_path(subject).read_bytes()
            except FileNotFoundError:
                raise PromptFaceError(photo_gone(row.subject_id)) from None
            prepared = self._prepare(row.subject_id, photo_bytes, subject.photo_file, options)
            if between_expressions():
                raise JobCancelled("cancelled")
            started = time.perf_counter()
            self._engines.generate(prepared, request["prompts"], folder / "result", options, self.settings.data_dir,
                                   progress=report, on_expression=expression_done,
                                   should_cancel=between_expressions, partial_dir=folder / "partial")
            self._learn_speed(time.perf_counter() - started, len(expressions))
            self._finish(job_id, expressions, "done")
        except JobCancelled:
            if self._stopping and job_id not in self._cancel_requested:
                self._requeue(job_id, expressions)
            else:
                self._store.update_job(job_id, status="cancelled", finished=now(), progress=progress["last"],
                                       message="cancelled; the expressions done so far stay in its partial set")
        except PromptFaceError as error:
            self._fail(job_id, public_message(str(error), self.settings.data_dir))
        except Exception as error:
            log.exception("job %s failed", job_id)
            self._fail(job_id, f"internal error ({type(error).__name__}; the details are in the server log)")

    def _stop_requested(self, job_id: str) -> bool:
        with self._condition:
            return self._stopping or job_id in self._cancel_requested

    def _requeue(self, job_id: str, expressions: list[dict]) -> None:
        """A clean stop interrupted this job: it goes back to the queue (its submission order puts it first)."""
        for item in expressions:
            item["status"] = "pending"
            item.pop("reads_as", None)
        self._store.update_job(job_id, status="queued", progress=0.0, started=None, expressions=expressions,
                               message="waiting in the queue (the server stopped while it ran; it runs again)")
        remove(self._job_dir(job_id) / "partial")

    def _finish(self, job_id: str, expressions: list[dict], message: str) -> None:
        """Zip a job's complete result/ and mark it succeeded; a zip that cannot be written fails the job and keeps
        every file of the set."""
        folder = self._job_dir(job_id)
        try:
            zip_expression_set(folder / "result", folder / ZIP_FILE)
        except OSError as error:
            self._fail(job_id, f"all {len(expressions)} expressions are done and kept (fetch them one by one from "
                               f"the job's files), but the server could not write the zip "
                               f"({error.strerror or type(error).__name__}); free disk space on the server and "
                               "submit the job again for the zip")
            return
        self._store.update_job(job_id, status="succeeded", progress=1.0, message=message, finished=now(),
                               expressions=expressions)

    def _fail(self, job_id: str, error: str) -> None:
        """Mark a job failed. Its sets stay (partial/, or result/ when it was complete): only a zip goes, which
        would stand for a job that succeeded."""
        remove(self._job_dir(job_id) / ZIP_FILE)
        self._store.update_job(job_id, status="failed", finished=now(), message="failed", error=error)

    # -----------------------------------------------------------------------------------------------------------
    # Removal and retention

    def _delete_subject(self, subject_id: str) -> int:
        """Remove a subject with its jobs (none of them queued or running) and forget its calibrations; returns how
        many jobs went."""
        jobs = retention.remove_subject(self._store, self.settings.data_dir, subject_id)
        self._prepared.forget(subject_id)
        return jobs

    def apply_retention(self) -> None:
        """Remove finished jobs older than keep_days, then subjects older too that have no job left; then, while
        the data dir is over max_disk_bytes, the oldest finished job, else the oldest subject with no job. The
        worker calls this when it starts, after each job and every RETENTION_INTERVAL while idle."""
        settings = self.settings
        with self._condition:
            retention.apply_retention(self._store, settings.data_dir, settings.keep_days, settings.max_disk_bytes,
                                      delete_subject=self._delete_subject)

    def _learn_speed(self, seconds: float, expressions: int) -> None:
        if expressions:
            self._seconds_per_expression = 0.7 * self._seconds_per_expression + 0.3 * seconds / expressions


def _version() -> str:
    try:
        return metadata.version("promptface")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()
