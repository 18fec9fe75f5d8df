"""`promptface-backend serve --stdio`: the JSON-lines transport of protocol.py, one client per process.

The client (the add-on starting this as a child process, or running it over an SSH exec channel) writes one request
per line on stdin and reads one reply per line on stdout; the first line out is the hello. Photos arrive as files in
the hello's upload_dir (copied there directly, or over SFTP) and results leave as paths that the client copies back.
The process keeps the service's engines warm for the whole session; EOF on stdin ends it (the service stops after
its current expression and puts a running job back in the queue). One such server runs per data dir at a time: a
client that reconnects at once gets a new server that waits for the old one to finish stopping.
"""
import io
import json
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator, TextIO

from addon.core.errors import PromptFaceError
from addon.core.protocol import API_VERSION, ErrorReply, JobRequest, from_wire, to_wire
from backend.serving.data_dir_lock import data_dir_lock
from backend.serving.service import Service, ServiceError

log = logging.getLogger(__name__)

UPLOADS_FOLDER = "uploads"


class _Refused(Exception):
    """A request this module refuses before the service sees it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.reply = ErrorReply(error="bad_request", message=message)


def main(service: Service) -> int:
    """Serve one client on this process's stdin/stdout until EOF; starts and stops the service (do not start it
    before). Raises PromptFaceError when another server holds the data dir for too long."""
    protocol_out = claim_stdout()
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    with data_dir_lock(Path(service.settings.data_dir)):
        service.start()
        try:
            run_stdio(service, stdin, protocol_out)
        finally:
            service.stop()
    return 0


def claim_stdout() -> TextIO:
    """Keep the real stdout for the protocol only: returns a stream on a duplicate of fd 1, then points fd 1 (and
    sys.stdout) at stderr so that anything a library prints lands in the log instead of between two replies."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", newline="\n")


def run_stdio(service: Service, stdin: TextIO, stdout: TextIO) -> None:
    """The session: hello, then one reply per request line until EOF on stdin (or the client going away).

    A malformed line or a failing request gets an error reply; nothing a client sends stops the loop.
    """
    uploads = _session_upload_dir(service)
    try:
        _send(stdout, {"event": "hello", "api_version": API_VERSION, "upload_dir": str(uploads),
                       "version": service.health().version})
        limit = service.settings.max_request_bytes
        for line in _lines(stdin, limit):
            if line is TOO_LONG:
                _send(stdout, {"id": None, "error": to_wire(ErrorReply(
                    error="bad_request", message=f"a request line is over {limit / 1e3:.0f} kB, this server's "
                                                 "limit; requests are small JSON objects (photos travel as files)"))})
            elif line.strip():
                _send(stdout, _reply(service, uploads, line))
    except BrokenPipeError:
        log.warning("the client closed its end of the protocol stream; stopping")
    finally:
        shutil.rmtree(uploads, ignore_errors=True)


TOO_LONG = object()  # stands for a line over the limit (read and dropped, never held whole)


def _lines(stdin: TextIO, limit: int) -> Iterator[str | object]:
    """The lines of stdin (newline included), each at most limit characters; a longer one is read to its end in
    pieces and given as TOO_LONG."""
    while True:
        line = stdin.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit:
            yield line
            continue
        while line and not line.endswith("\n"):
            line = stdin.readline(limit + 1)
        yield TOO_LONG


def _session_upload_dir(service: Service) -> Path:
    """A fresh folder for this session's photos under the data dir (removed when the session ends)."""
    uploads = Path(service.settings.data_dir).resolve() / UPLOADS_FOLDER / uuid.uuid4().hex
    uploads.mkdir(parents=True, mode=0o700)
    return uploads


def _send(stdout: TextIO, message: dict) -> None:
    stdout.write(json.dumps(message) + "\n")
    stdout.flush()


def _reply(service: Service, uploads: Path, line: str) -> dict:
    """One request line → its reply (with the request's id once that could be read); every failure becomes an
    ErrorReply."""
    request_id, method = None, "?"
    try:
        request = _json_object(line)
        request_id = _request_id(request)
        method, params = _method_and_params(request)
        handler = METHODS.get(method)
        if handler is None:
            raise _Refused(f"unknown method '{method}'; known: {', '.join(METHODS)}")
        return {"id": request_id, "result": handler(service, uploads, params)}
    except _Refused as refused:
        error = refused.reply
    except ServiceError as failure:
        error = ErrorReply(error=failure.code, message=failure.message, retry_after=failure.retry_after)
    except PromptFaceError as failure:
        error = ErrorReply(error="invalid", message=str(failure))
    except Exception as failure:  # a bug must not end the session: report it and go on
        log.exception("request '%s' failed", method)
        error = ErrorReply(error="internal", message=f"the backend failed on '{method}' "
                                                     f"({type(failure).__name__}; the details are in its log)")
    return {"id": request_id, "error": to_wire(error)}


def _json_object(line: str) -> dict:
    try:
        request = json.loads(line)
    except ValueError as error:
        raise _Refused(f"a request line is not JSON ({error}): {line[:80]!r}") from None
    except RecursionError:
        raise _Refused("a request line nests too deeply to read; requests are flat JSON objects") from None
    if not isinstance(request, dict):
        raise _Refused(f"a request must be a JSON object, got {type(request).__name__}")
    return request


def _request_id(request: dict) -> int | str:
    request_id = request.get("id")
    if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
        raise _Refused(f"a request needs an 'id' (number or string), got {request_id!r}")
    return request_id


def _method_and_params(request: dict) -> tuple[str, dict]:
    method, params = request.get("method"), request.get("params", {})
    if not isinstance(method, str):
        raise _Refused(f"a request needs a 'method' string, got {method!r}")
    if not isinstance(params, dict):
        raise _Refused(f"'params' must be an object, got {type(params).__name__}")
    return method, params


def _text(params: dict, key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise _Refused(f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _create_subject(service: Service, uploads: Path, params: dict) -> dict:
    """Calibrate the photo the client put in the upload folder, then remove that file."""
    given = _text(params, "photo_path")
    path = Path(given).resolve()
    if not path.is_relative_to(uploads) or path == uploads:
        raise _Refused(f"photo_path '{given}' is outside this session's upload folder {uploads}; "
                       "copy the photo there first (the folder is in the hello)")
    if not path.is_file():
        raise _Refused(f"no photo at '{given}'; copy it into {uploads} before create_subject")
    filename = params.get("filename") or path.name
    if not isinstance(filename, str):
        raise _Refused(f"'filename' must be a string, got {filename!r}")
    try:
        photo = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    return to_wire(service.create_subject(photo, filename))


def _create_job(service: Service, uploads: Path, params: dict) -> dict:
    try:
        request = from_wire(JobRequest, params)
    except (TypeError, ValueError) as error:
        raise _Refused(f"create_job: {error}") from None
    return to_wire(service.create_job(request))


METHODS: dict[str, Callable[[Service, Path, dict], dict]] = {
    "health": lambda service, uploads, params: to_wire(service.health()),
    "engines": lambda service, uploads, params: to_wire(service.engines()),
    "create_subject": _create_subject,
    "create_job": _create_job,
    "job_status": lambda service, uploads, params: to_wire(service.job_status(_text(params, "job_id"))),
    "cancel_job": lambda service, uploads, params: to_wire(service.cancel(_text(params, "job_id"))),
    "delete_job": lambda service, uploads, params: to_wire(service.delete_job(_text(params, "job_id"))),
    "delete_subject": lambda service, uploads, params: to_wire(service.delete_subject(_text(params, "subject_id"))),
    "asset_path": lambda service, uploads, params: {
        "path": str(service.asset_path(_text(params, "job_id"), _text(params, "name")))},
    "set_path": lambda service, uploads, params: {"path": str(service.set_zip_path(_text(params, "job_id")))},
}
