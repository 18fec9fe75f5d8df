"""The backend as a service: subjects, a job queue, one worker thread that owns the engines, a store that survives
restarts. Transport-neutral: the HTTP app (backend/serving/http_api) and the JSON-lines server
(backend/serving/stdio_server) call these methods, send their protocol.py replies, and turn ServiceError into an
ErrorReply.

On disk, under settings.data_dir:
    store.sqlite3                    subjects and jobs (backend/serving/job_store.py)
    subjects/<subject_id>/<photo>    each uploaded photo, as sent
    jobs/<job_id>/partial/           while a job runs: a valid expression set of the expressions done so far
    jobs/<job_id>/result/            the finished set; it is partial/ renamed, so it appears in one step
    jobs/<job_id>/expression-set.zip the finished set zipped, written before the job is marked succeeded
A job that failed or was cancelled keeps partial/ (what was done), or result/ when its set was complete (a zip that
could not be written). A job found running after a crash: if its result/ exists (the crash came after the set was
complete) the zip is finished and the job succeeds; otherwise it is marked failed and keeps partial/.
Every folder is made 0700 and every file 0600 (the serve commands set the umask; start() tightens the data dir).
Retention (settings.keep_days, settings.max_disk_bytes) removes finished jobs and idle subjects, oldest first; what a
queued or running job needs is never removed.
"""
import hashlib
import json
import logging
import math
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections import OrderedDict, deque
from concurrent.futures import Future, TimeoutError as FutureTimeout
from datetime import datetime, timezone
from dataclasses import fields, replace
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Callable


from addon.core.atomic_files import write_bytes_atomically
from addon.core.errors import PromptFaceError
from addon.core.expression_set import MANIFEST_FILE, manifest_file_names, zip_expression_set
from addon.core.prompt_grammar import prompt_expression_names
from addon.core.protocol import (API_VERSION, EDITORS, ERROR_STATUS, FINISHED_STATUSES, RECONSTRUCTORS, Deleted,
                                 EngineInfo, EngineList, ExpressionProgress, Health, JobInfo, JobRequest, SubjectInfo)
from backend.errors import InputImageError, NotAnImageError, PhotoTooLargeError, public_message
from backend.serving.job_store import StoredJob, JobStore, StoredSubject, now
from backend.settings import Settings
from backend.subject.photo_io import PHOTO_SUFFIXES, open_photo_header
from backend.engines import Engines
from backend.pipeline import (PreparedSubject, JobCancelled, PipelineOptions, prepare_subject, check_inputs,
                              generate_expressions)

log = logging.getLogger(__name__)

ZIP_FILE = "expression-set.zip"
ASSET_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# JobRequest.options a client may set, with their checks; everything else about a run is the server's business.
JOB_OPTIONS = {
    "skin_tone_strength": (lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
                           and 0.0 <= value <= 1.0, "a number in 0..1"),
    "enhance": (lambda value: isinstance(value, bool), "true or false"),
    "diagnostics": (lambda value: isinstance(value, bool), "true or false"),
    "write_expression_objs": (lambda value: isinstance(value, bool), "true or false"),
    "neutralise": (lambda value: isinstance(value, bool), "true or false"),
}
# The worker applies retention when it starts, after each job, and at least this often while idle (seconds).
RETENTION_INTERVAL = 3600.0


class ServiceError(PromptFaceError):
    """A request the service refuses; code is a key of protocol.ERROR_STATUS (which also gives its HTTP status)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown error code '{code}'")
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]


class Service:
    """Subjects and expression jobs over one warm set of engines.

    Every method may be called from any thread. The engines are used by the worker thread only: it loads them
    (engines_factory()) when start() is called, runs the jobs in submission order, and calibrates new subjects —
    between two expressions of a running job, so an upload does not wait for a long job.
    """

    def __init__(self, settings: Settings, engines_factory: Callable[[], Engines] = Engines.load):
        self.settings = settings
        self._engines_factory = engines_factory
        self._state = "stopped"            # stopped → loading → ok | error (engines failed to load)
        self._engines: Engines | None = None
        self._engines_error: str | None = None
        self._condition = threading.Condition()
        self._queue: deque[str] = deque()  # queued job ids, next first
        self._tasks: deque[tuple[Callable, Future]] = deque()  # work for the worker (subject calibration)
        self._running: str | None = None
        self._cancel_requested: set[str] = set()
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._prepared: OrderedDict[tuple, PreparedSubject] = OrderedDict()  # the worker's LRU cache
        self._cache_lock = threading.Lock()  # the cache is also emptied by request threads (delete_subject)
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
                _private_folder(folder)
            self._store = JobStore(data_dir / "store.sqlite3")
            for path in data_dir.glob("store.sqlite3*"):  # the store and its WAL files
                os.chmod(path, 0o600)
            self._queue.clear()
            self._cancel_requested.clear()
            self._recover()
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

    def _recover(self) -> None:
        for row in self._store.jobs("running"):
            job_dir = self._job_dir(row.job_id)
            for leftover in [*job_dir.glob(".*"), *(job_dir / "partial").glob(".*"), *(job_dir / "result").glob(".*")]:
                _remove(leftover)  # hidden = temporary files of unfinished writes
            if (job_dir / "result" / MANIFEST_FILE).is_file():
                # The set was complete (partial/ is renamed to result/ in one step): only the zip was left to do.
                log.warning("job %s was running when the server stopped, its set complete; finishing it", row.job_id)
                expressions = [{**item, "status": "done"} for item in row.expressions]
                try:
                    self._finish(row.job_id, expressions, "done (finished when the server restarted)")
                except PromptFaceError as error:  # result/ is not a readable set after all
                    self._fail(row.job_id, public_message(str(error), self.settings.data_dir))
                continue
            done = sum(item["status"] == "done" for item in row.expressions)
            _remove(job_dir / ZIP_FILE)
            self._store.update_job(
                row.job_id, status="failed", finished=now(), message="interrupted",
                error=f"interrupted by a server restart (the server stopped while this job ran, after {done} of "
                      f"{len(row.expressions)} expressions; those are kept in its partial set); submit it again")
            log.warning("job %s was running when the server stopped; marked failed", row.job_id)
        self._queue.extend(row.job_id for row in self._store.jobs("queued"))

    def _finish(self, job_id: str, expressions: list[dict], message: str) -> None:
        """Zip a job's complete result/ and mark it succeeded; a zip that cannot be written fails the job and keeps
        every file of the set."""
        try:
            zip_expression_set(self._job_dir(job_id) / "result", self._job_dir(job_id) / ZIP_FILE)
        except OSError as error:
            self._fail(job_id, f"all {len(expressions)} expressions are done and kept (fetch them one by one from "
                               f"the job's files), but the server could not write the zip "
                               f"({error.strerror or type(error).__name__}); free disk space on the server and "
                               "submit the job again for the zip")
            return
        self._store.update_job(job_id, status="succeeded", progress=1.0, message=message, finished=now(),
                               expressions=expressions)

    # -----------------------------------------------------------------------------------------------------------
    # Requests

    @property
    def waiting_uploads(self) -> int:
        """Uploads waiting for the worker now."""
        return self._waiting_uploads

    def health(self) -> Health:
        return Health(status=self._state, api_version=API_VERSION, version=VERSION)

    def engines(self) -> EngineList:
        # Open to anyone (no token): reasons name no folders of this machine.
        data_dir = self.settings.data_dir
        load_error = (public_message(f"the engines failed to load: {self._engines_error}", data_dir)
                      if self._engines_error else None)
        not_loaded = ({name: public_message(reason, data_dir) for name, reason in self._engines.unavailable.items()}
                      if self._engines is not None else {})
        listed = [EngineInfo(name, "editor", load_error is None and name not in not_loaded,
                             load_error or not_loaded.get(name)) for name in EDITORS]
        listed += [EngineInfo(name, "reconstructor", load_error is None and name not in not_loaded,
                              load_error or not_loaded.get(name)) for name in RECONSTRUCTORS]
        return EngineList(engines=listed)

    def create_subject(self, photo_bytes: bytes, filename: str) -> SubjectInfo:
        """Calibrate a neutral photo once (the same bytes give the same subject) and keep it for later jobs."""
        # 1. Limits and the image header, before any pixel is decoded.
        limit = self.settings.max_upload_bytes
        if len(photo_bytes) > limit:
            raise ServiceError("too_large", f"the photo is {len(photo_bytes) / 1e6:.1f} MB; the limit is "
                                            f"{limit / 1e6:.1f} MB — scale it down or export it as JPEG")
        if not photo_bytes:
            raise ServiceError("bad_request", "the photo is empty (0 bytes); send a JPEG or PNG face photo")
        sha256 = hashlib.sha256(photo_bytes).hexdigest()
        subject_id = sha256[:32]
        known = self._store_now().subject(subject_id)
        if known is not None:
            photo_path = self._photo_path(known)
            if not photo_path.is_file():  # removed from disk: the same bytes put it back
                write_bytes_atomically(photo_path, photo_bytes, mode=0o600)
            return SubjectInfo(**known.info)
        display_name = _display_name(filename)
        _check_photo_header(photo_bytes, display_name, self.settings.max_pixels)
        # 2. Calibrate on the worker (it owns the engines), persist photo and info.
        return self._on_worker(lambda: self._new_subject(subject_id, photo_bytes, display_name))

    def create_job(self, request: JobRequest) -> JobInfo:
        """Check the request completely, then queue it (or refuse with queue_full and a Retry-After)."""
        options = self._check_job_request(request)
        with self._condition:
            store = self._store_now()
            if self._stopping:
                raise ServiceError("internal", "the server is shutting down; submit the job again in a moment")
            if len(self._queue) >= self.settings.queue_depth:
                raise ServiceError("queue_full", f"{len(self._queue)} jobs are waiting, the most this server "
                                                 f"queues (--queue-depth {self.settings.queue_depth}); try again "
                                                 "later", retry_after=self._retry_after())
            if store.subject(request.subject_id) is None:  # deleted since the request was checked
                raise ServiceError("not_found", f"subject '{request.subject_id}' was just deleted; upload the "
                                                "photo again")
            job_id = uuid.uuid4().hex
            names = prompt_expression_names(request.prompts)
            store.add_job(StoredJob(
                job_id=job_id, subject_id=request.subject_id, status="queued", message="waiting in the queue",
                request={"subject_id": request.subject_id, "prompts": list(request.prompts),
                         "editor": options.editor, "reconstructor": options.reconstructor,
                         "options": dict(request.options)},
                expressions=[{"name": name, "prompt": prompt, "status": "pending"}
                             for name, prompt in zip(names, request.prompts, strict=True)]))
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
                       files=self._job_files(row)[1], position=position, error=row.error, created=row.created,
                       finished=row.finished)

    def asset_path(self, job_id: str, name: str) -> Path:
        """The file `name` of a job's current set (JobInfo.files): never anything else."""
        if not isinstance(name, str) or not ASSET_NAME.fullmatch(name):
            raise ServiceError("bad_request", f"asset name {name!r} is not a file name of an expression set "
                                              "(a-z, 0-9, _ and dots, no folders); take names from the job's files")
        row = self._job(job_id)
        folder, files = self._job_files(row)
        if name not in files:
            raise ServiceError("not_found", f"job {job_id} has no file '{name}' now; it has: "
                                            f"{', '.join(files) or 'nothing yet'}")
        return folder / name

    def set_zip_path(self, job_id: str) -> Path:
        row = self._job(job_id)
        if row.status != "succeeded":
            raise ServiceError("not_ready", f"job {job_id} is {row.status}; the whole expression set can be fetched "
                                            "once it has succeeded (single files of the partial set can be "
                                            "fetched now, see its files)")
        path = self._job_dir(job_id) / ZIP_FILE
        if not path.is_file():
            raise ServiceError("not_found", _zip_gone(job_id))
        return path

    def open_set_zip(self, job_id: str) -> BinaryIO:
        """The zip of a succeeded job, open for reading (removing the file now no longer pulls it away)."""
        try:
            return self.set_zip_path(job_id).open("rb")
        except FileNotFoundError:
            raise ServiceError("not_found", _zip_gone(job_id)) from None

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
            self._delete_job(row.job_id)
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

    def _check_job_request(self, request: JobRequest) -> PipelineOptions:
        """Every field of a job request checked, before it is queued; returns its pipeline options."""
        limits = self.settings
        subject = (self._store_now().subject(request.subject_id) if isinstance(request.subject_id, str) else None)
        if subject is None:
            raise ServiceError("not_found", f"no subject '{request.subject_id}' on this server; upload the photo "
                                            "first (create subject) and use the subject_id it returns")
        if not self._photo_path(subject).is_file():
            raise ServiceError("not_found", _photo_gone(request.subject_id))
        prompts = request.prompts
        if not isinstance(prompts, list) or not all(isinstance(prompt, str) for prompt in prompts):
            raise ServiceError("bad_request", "prompts must be a list of strings")
        for index, prompt in enumerate(prompts, start=1):
            if len(prompt) > limits.max_prompt_chars:
                raise ServiceError("invalid", f"prompt {index} is {len(prompt)} characters; the limit is "
                                              f"{limits.max_prompt_chars} — describe the expression in fewer words")
        if not isinstance(request.editor, str) or not isinstance(request.reconstructor, str):
            raise ServiceError("bad_request", "editor and reconstructor must be engine names (see engines)")
        if not isinstance(request.options, dict):
            raise ServiceError("bad_request", "options must be an object")
        for key, value in request.options.items():
            check, wanted = JOB_OPTIONS.get(key, (None, None))
            if check is None:
                raise ServiceError("invalid", f"unknown option '{key}'; the options are: {', '.join(JOB_OPTIONS)}")
            if not check(value):
                raise ServiceError("invalid", f"option '{key}' is {value!r}; it must be {wanted}")
        options = PipelineOptions(editor=request.editor, reconstructor=request.reconstructor, **request.options)
        try:
            check_inputs(prompts, options, self._engines, max_prompts=limits.max_prompts)
        except PromptFaceError as error:
            raise ServiceError("invalid", str(error)) from None
        return options

    def _job_dir(self, job_id: str) -> Path:
        return self.settings.data_dir / "jobs" / job_id

    def _photo_path(self, subject) -> Path:
        return self.settings.data_dir / "subjects" / subject.subject_id / subject.photo_file

    def _job_files(self, row: StoredJob) -> tuple[Path, list[str]]:
        """The folder of a job's current set and the asset names in it (those its manifest stands for)."""
        job_dir = self._job_dir(row.job_id)
        if row.status == "queued":
            return job_dir / "partial", []
        for folder in ((job_dir / "result", job_dir / "partial") if row.status == "succeeded"
                       else (job_dir / "partial", job_dir / "result")):
            # partial/ becomes result/ at the end of a run: look in both, the one named first wins.
            try:
                manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
                names = manifest_file_names(manifest)
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            return folder, [name for name in names if ASSET_NAME.fullmatch(name)]
        return job_dir / "partial", []

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
        self._load_engines()
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

    def _load_engines(self) -> None:
        try:
            self._engines = self._engines_factory()
            self._state = "ok"
        except Exception as error:  # reported by health, engines and every job instead of killing the worker
            log.exception("the engines failed to load")
            self._engines_error = f"{type(error).__name__}: {error}"
            self._state = "error"

    def _ready_engines(self) -> Engines:
        if self._engines is None:
            reason = public_message(self._engines_error or "", self.settings.data_dir)
            raise ServiceError("internal", f"the engines failed to load ({reason}); "
                                           "see the server log, fix it and restart the server")
        return self._engines

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

    def _new_subject(self, subject_id: str, photo_bytes: bytes, display_name: str) -> SubjectInfo:
        known = self._store.subject(subject_id)  # the same photo may have been sent twice at once
        if known is not None:
            return SubjectInfo(**known.info)
        try:
            prepared = self._prepare(subject_id, photo_bytes, display_name, PipelineOptions())
        except ServiceError:
            raise
        except InputImageError as error:
            raise ServiceError("bad_request", str(error)) from None
        except PromptFaceError as error:
            raise ServiceError("invalid", str(error)) from None
        subject = prepared.subject
        info = SubjectInfo(subject_id=subject_id, sha256=subject.sha256, size=list(subject.photo_size),
                           face_box=subject.face.box.as_list(), notes=list(subject.notes))
        folder = self.settings.data_dir / "subjects" / subject_id
        _private_folder(folder)
        photo_name = _stored_photo_name(display_name)
        write_bytes_atomically(folder / photo_name, photo_bytes, mode=0o600)
        self._store.add_subject(StoredSubject(subject_id, photo_name, {f.name: getattr(info, f.name)
                                                                    for f in fields(info)}))
        return info

    def _prepare(self, subject_id: str, photo_bytes: bytes, photo_name: str,
                 options: PipelineOptions) -> PreparedSubject:
        """The subject prepared for these options, from the cache or now (it depends on the subject and on the
        options that shape the neutral and the photo as taken: all but the editor)."""
        key = (subject_id, replace(options, editor=""))  # everything but the editor shapes it
        with self._cache_lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
        prepared = prepare_subject(photo_bytes, photo_name, self._ready_engines(), options)
        with self._cache_lock:
            self._prepared[key] = prepared
            while len(self._prepared) > self.settings.subject_cache:
                self._prepared.popitem(last=False)
        return prepared

    def _run_job(self, job_id: str) -> None:
        row = self._store.job(job_id)
        request = row.request
        options = PipelineOptions(editor=request["editor"], reconstructor=request["reconstructor"],
                                  **request["options"])
        job_dir = self._job_dir(job_id)
        _remove(job_dir / "partial")  # from a run that a clean stop interrupted
        _private_folder(job_dir)
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
                raise PromptFaceError(_photo_gone(row.subject_id)) from None
            prepared = self._prepare(row.subject_id, photo_bytes, subject.photo_file, options)
            if between_expressions():
                raise JobCancelled("cancelled")
            started = time.perf_counter()
            generate_expressions(prepared, request["prompts"], job_dir / "result", self._ready_engines(), options,
                                 progress=report, on_expression=expression_done,
                                 should_cancel=between_expressions, partial_dir=job_dir / "partial")
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
        _remove(self._job_dir(job_id) / "partial")

    def _fail(self, job_id: str, error: str) -> None:
        """Mark a job failed. Its sets stay (partial/, or result/ when it was complete): only a zip goes, which
        would stand for a job that succeeded."""
        _remove(self._job_dir(job_id) / ZIP_FILE)
        self._store.update_job(job_id, status="failed", finished=now(), message="failed", error=error)

    # -----------------------------------------------------------------------------------------------------------
    # Removal and retention

    def _delete_job(self, job_id: str) -> None:
        _remove(self._job_dir(job_id))
        self._store.delete_job(job_id)

    def _delete_subject(self, subject_id: str) -> int:
        """Remove a subject with its jobs (none of them queued or running); returns how many jobs went."""
        jobs = self._store.jobs_of_subject(subject_id)
        for row in jobs:
            _remove(self._job_dir(row.job_id))
        _remove(self.settings.data_dir / "subjects" / subject_id)
        self._store.delete_subject(subject_id)
        with self._cache_lock:
            for key in [key for key in self._prepared if key[0] == subject_id]:
                del self._prepared[key]
        return len(jobs)

    def apply_retention(self) -> None:
        """Remove finished jobs older than keep_days, then subjects older too that have no job left; then, while
        the data dir is over max_disk_bytes, the oldest finished job, else the oldest subject with no job. The
        worker calls this when it starts, after each job and every RETENTION_INTERVAL while idle."""
        settings = self.settings
        with self._condition:
            store = self._store
            finished = sorted((row for status in FINISHED_STATUSES for row in store.jobs(status)),
                              key=lambda row: row.finished or row.created)
            if settings.keep_days > 0:
                for row in [row for row in finished if _age_days(row.finished or row.created) > settings.keep_days]:
                    log.info("retention: removing job %s (finished %s)", row.job_id, row.finished)
                    self._delete_job(row.job_id)
                    finished.remove(row)
                for subject in self._idle_subjects():
                    if _age_days(subject.created) > settings.keep_days:
                        log.info("retention: removing subject %s (uploaded %s)", subject.subject_id, subject.created)
                        self._delete_subject(subject.subject_id)
            if settings.max_disk_bytes > 0:
                used = _folder_bytes(settings.data_dir)
                while used > settings.max_disk_bytes:
                    if finished:
                        row = finished.pop(0)
                        freed = _folder_bytes(self._job_dir(row.job_id))
                        self._delete_job(row.job_id)
                    else:
                        idle = self._idle_subjects()
                        if not idle:
                            log.warning("the data dir holds %.1f GB, over the %.1f GB budget, all of it in use",
                                        used / 1e9, settings.max_disk_bytes / 1e9)
                            break
                        freed = _folder_bytes(settings.data_dir / "subjects" / idle[0].subject_id)
                        self._delete_subject(idle[0].subject_id)
                    log.info("retention: over the disk budget, removed the oldest (%.1f MB)", freed / 1e6)
                    used -= freed

    def _idle_subjects(self):
        """Subjects with no job left (a subject goes after its jobs, so a recent job keeps an old photo), oldest
        first."""
        store = self._store
        return [subject for subject in store.subjects() if not store.jobs_of_subject(subject.subject_id)]

    def _learn_speed(self, seconds: float, expressions: int) -> None:
        if expressions:
            self._seconds_per_expression = 0.7 * self._seconds_per_expression + 0.3 * seconds / expressions


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _check_photo_header(photo_bytes: bytes, filename: str, max_pixels: int) -> None:
    """Refuse what is not an image (415), a damaged one (400) or one with too many pixels (413), from its header."""
    try:
        open_photo_header(photo_bytes, f"'{filename}'", max_pixels).close()
    except PhotoTooLargeError as error:
        raise ServiceError("too_large", str(error)) from None
    except NotAnImageError as error:
        raise ServiceError("unsupported_media", f"{error}; send a JPEG or PNG photo") from None
    except InputImageError as error:
        raise ServiceError("bad_request", str(error)) from None


def _display_name(filename) -> str:
    """The client's file name, for messages only: its last part, printable, at most 100 characters."""
    name = re.split(r"[\\/]", str(filename or ""))[-1]
    name = "".join(character for character in name if character.isprintable())[-100:]
    return name or "the photo"


def _stored_photo_name(display_name: str) -> str:
    """The stored photo's file name: 'photo' with the client's extension when it is an image one (the expression
    set's photo file keeps the same extension)."""
    suffix = Path(display_name).suffix.lower()
    return "photo" + (suffix if suffix in PHOTO_SUFFIXES else "")


def _zip_gone(job_id: str) -> str:
    return (f"the zip of job {job_id} is no longer on this server; fetch the set's files one by one (see its "
            "files), or submit the job again")


def _photo_gone(subject_id: str) -> str:
    return (f"subject '{subject_id}' is known but its photo is no longer on this server (it was removed from "
            "disk); upload the photo again (create subject) and use the subject_id it returns")


def _private_folder(folder: Path) -> None:
    """Make folder (and its parents) if needed, and leave it 0700: a folder others could read is tightened, with a
    warning (a data dir made before, e.g. --data-dir /scratch/pf)."""
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if existed and mode & 0o077:
        log.warning("%s was open to other users (mode %o); set to 700 so that only this user can read photos "
                    "and results", folder, mode)
    if mode != 0o700:
        os.chmod(folder, 0o700)


def _age_days(timestamp: str) -> float:
    then = datetime.fromisoformat(timestamp)
    return (datetime.now(timezone.utc) - then).total_seconds() / 86400.0


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _version() -> str:
    try:
        return metadata.version("promptface")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()
