"""The messages between a PromptFace client and a backend, the same over HTTP and over JSON lines (stdio/SSH).

Defined once, as plain dataclasses (no pydantic: this ships inside the Blender extension). The backend builds
replies with these classes and `to_wire`; clients parse replies with `from_wire`.

HTTP (API version 1; bearer token on everything but health and engines):
    GET  /v1/health                            -> Health
    GET  /v1/engines                           -> EngineList
    POST /v1/subjects        multipart "photo" -> SubjectInfo (201)
    POST /v1/jobs            JobRequest (JSON) -> JobInfo (202); 429 + Retry-After when the queue is full
    GET  /v1/jobs/{job_id}                     -> JobInfo
    GET  /v1/jobs/{job_id}/assets/{name}       -> the file (an asset listed in JobInfo.files)
    GET  /v1/jobs/{job_id}/expression-set.zip  -> the whole set, once the job succeeded (409 before)
    POST /v1/jobs/{job_id}/cancel              -> JobInfo
    DELETE /v1/jobs/{job_id}                   -> Deleted; 409 while queued or running (cancel first)
    DELETE /v1/subjects/{subject_id}           -> Deleted (with its finished jobs); 409 while a job of it waits/runs
    GET  /v1/openapi.json                      -> this API as an OpenAPI document (no token)
Errors: an ErrorReply body with the HTTP status (503 busy and 429 queue_full come with Retry-After).

JSON lines (`promptface-backend serve --stdio`): one request per line {"id": n, "method": M, "params": {...}},
one reply per line {"id": n, "result": {...}} or {"id": n, "error": ErrorReply}. The first line the server
writes is {"event": "hello", "api_version": 1, "upload_dir": PATH, "version": ...}. Methods and params:
    health {}; engines {}; create_subject {"photo_path": PATH (already on the server's disk), "filename": NAME};
    create_job JobRequest; job_status {"job_id"}; cancel_job {"job_id"}; delete_job {"job_id"} -> Deleted;
    delete_subject {"subject_id"} -> Deleted;
    asset_path {"job_id", "name"} -> {"path": PATH}; set_path {"job_id"} -> {"path": PATH of the zip}.
Files travel outside the JSON: over SFTP on the same SSH connection, or directly when the server is local.
"""
from dataclasses import MISSING, asdict, dataclass, field, fields

from .errors import PromptFaceError

API_VERSION = 1

# The engines a JobRequest may name, the default first (EngineList says which of them a server has loaded).
EDITORS = ("warp", "diffedit")
RECONSTRUCTORS = ("landmarks", "deca")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")

# Machine-readable error codes and their HTTP statuses.
ERROR_STATUS = {
    "bad_request": 400, "unauthorized": 401, "not_found": 404, "not_ready": 409, "too_large": 413,
    "unsupported_media": 415, "invalid": 422, "queue_full": 429, "internal": 500, "method_not_allowed": 405,
    "busy": 503,
}


@dataclass(frozen=True)
class Health:
    status: str
    api_version: int
    version: str
    workers_up: int | None = None  # on a cluster (serve --cluster ray): the workers answering now; None otherwise


@dataclass(frozen=True)
class EngineInfo:
    name: str
    kind: str                 # "editor" or "reconstructor"
    available: bool
    reason: str | None = None  # why it is not available (missing weights: which files, where configured)


@dataclass(frozen=True)
class WorkerInfo:
    """One cluster worker as a client may see it (no host names or addresses)."""
    worker: int                # its place in the pool
    up: bool                   # it answered just now
    gpus: int = 0              # GPUs it holds
    editors: list[str] = field(default_factory=list)
    reconstructors: list[str] = field(default_factory=list)
    expressions_done: int = 0  # since it (re)started


@dataclass(frozen=True)
class EngineList:
    engines: list[EngineInfo]
    workers: list[WorkerInfo] | None = None  # on a cluster; None when the work runs in the server's own process


@dataclass(frozen=True)
class SubjectInfo:
    subject_id: str
    sha256: str
    size: list[int]           # photo width, height
    face_box: list[int]       # x, y, width, height in photo pixels
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobRequest:
    subject_id: str
    prompts: list[str]
    editor: str = "warp"
    reconstructor: str = "landmarks"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExpressionProgress:
    name: str
    prompt: str
    status: str               # "pending" or "done"
    reads_as: dict | None = None  # once done: the expression self-check, {class: probability} (api 1, added later)


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    subject_id: str
    status: str               # one of JOB_STATUSES
    progress: float           # 0..1
    message: str
    expressions: list[ExpressionProgress]
    files: list[str]          # asset names that can be fetched now (a valid partial set: manifest.json lists
                              # only the expressions done so far)
    position: int | None = None   # place in the queue while queued (0 = next)
    error: str | None = None
    created: str = ""
    finished: str | None = None


@dataclass(frozen=True)
class Deleted:
    kind: str                 # "job" or "subject"
    id: str
    jobs_deleted: int = 0     # a subject's finished jobs, removed with it


@dataclass(frozen=True)
class ErrorReply:
    error: str                # a key of ERROR_STATUS
    message: str              # what went wrong and what to do, for a person
    retry_after: int | None = None


def check_engines(editor: str, reconstructor: str) -> None:
    """Refuse unknown engine names with the list of those that exist."""
    for kind, name, known in (("editor", editor, EDITORS), ("reconstructor", reconstructor, RECONSTRUCTORS)):
        if name not in known:
            raise PromptFaceError(f"unknown {kind} '{name}'; choose one of: {', '.join(known)}")


def to_wire(message) -> dict:
    """A protocol dataclass as JSON-ready dict."""
    return asdict(message)


def from_wire(cls, data: dict):
    """Build a protocol dataclass from a wire dict, ignoring unknown keys (newer servers may add some);
    nested ExpressionProgress / EngineInfo lists are rebuilt. Raises ValueError naming a missing field."""
    known = {f.name: f for f in fields(cls)}
    values = {}
    for name, spec in known.items():
        if name in data:
            values[name] = data[name]
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ValueError(f"{cls.__name__} reply is missing '{name}'")
    if cls is JobInfo:
        values["expressions"] = [from_wire(ExpressionProgress, item) for item in values["expressions"]]
    if cls is EngineList:
        values["engines"] = [from_wire(EngineInfo, item) for item in values["engines"]]
        if values.get("workers") is not None:
            values["workers"] = [from_wire(WorkerInfo, item) for item in values["workers"]]
    return cls(**values)
