"""The client side of the JSON-lines protocol (core/protocol.py) to a `promptface-backend serve --stdio` process.

Two channels carry it: `LocalStdioChannel` (a child process on this machine; files are plain paths) and
`ssh.SSHChannel` (one SSH connection: an exec channel for the lines, SFTP for the files). `StdioBackend` has the same
methods as the HTTP client, so the add-on does not care which transport it talks to.

One request is outstanding at a time (a lock makes the methods safe to call from a worker thread); a reader thread
per connection moves lines into a queue, so that a wait for a reply can time out. When the channel drops, the call
raises ConnectionLost; the next call, or `reconnect()`, opens a new channel and a new server process, which sees the
jobs of the old one through the same data dir.
"""
import abc
import itertools
import json
import logging
import queue
import shutil
import subprocess
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import BinaryIO, Callable

from ..core.errors import PromptFaceError
from ..core.protocol import (API_VERSION, EngineList, Health, JobInfo, JobRequest, SubjectInfo, from_wire,
                             to_wire)
from .errors import BackendError, ConnectionLost
from .local import serve_command

log = logging.getLogger(__name__)

STDERR_LINES = 20          # how much of the server's stderr is kept to explain a failure
MAX_PREAMBLE_LINES = 200   # lines a login shell or a wrapper may print on stdout before the hello
CLOSE_WAIT_SECONDS = 5.0   # how long a closed local server may take to finish its session before it is killed


class StderrTail:
    """The last lines of a server's stderr, read by a daemon thread so that the pipe never fills up."""

    def __init__(self, stream: BinaryIO, name: str):
        self._lines: deque[str] = deque(maxlen=STDERR_LINES)
        self._thread = threading.Thread(target=self._drain, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _drain(self, stream: BinaryIO) -> None:
        try:
            for raw in stream:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, EOFError, ValueError):
            pass  # the stream went away with the channel

    def text(self, wait: float = 0.5) -> str:
        """The lines so far, after giving a closing stream a moment to deliver its last ones."""
        self._thread.join(wait)
        return "\n".join(self._lines)


class StdioChannel(abc.ABC):
    """A line stream to and from one `serve --stdio` process, plus file copies to and from its disk.

    write_line raises OSError or EOFError when the channel is gone; the reader returns b"" (or raises) at its end.
    """
    description = "the backend"

    @abc.abstractmethod
    def open(self) -> None:
        ...

    @abc.abstractmethod
    def write_line(self, data: bytes) -> None:
        ...

    @abc.abstractmethod
    def reader(self) -> Callable[[], bytes]:
        """A function that reads the next line of the connection opened last (bound to it: after a reconnect it
        still reads the old, closed one)."""
        ...

    @abc.abstractmethod
    def upload(self, local_path: Path, remote_dir: str) -> str:
        """Copy a file into remote_dir under a fresh name; returns its path on the server."""
        ...

    @abc.abstractmethod
    def download(self, remote_path: str, local_path: Path) -> None:
        ...

    @abc.abstractmethod
    def is_alive(self) -> bool:
        ...

    @abc.abstractmethod
    def last_words(self) -> str:
        """Why the server side ended, as far as known (exit status, last stderr lines); may be empty."""
        ...

    @abc.abstractmethod
    def close(self) -> None:
        ...


class LocalStdioChannel(StdioChannel):
    """`promptface-backend serve --stdio` as a child process of this one; the server's files are local paths."""

    def __init__(self, data_dir: str | Path | None = None, command: list[str] | None = None):
        self.command = command or serve_command(data_dir)
        self.description = "the local backend"
        self._process: subprocess.Popen | None = None
        self._stderr: StderrTail | None = None

    def open(self) -> None:
        try:
            self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE,
                                             creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # Windows
        except OSError as error:
            raise BackendError("unreachable", f"cannot start the local backend `{' '.join(self.command)}`: "
                                              f"{error}") from None
        self._stderr = StderrTail(self._process.stderr, "promptface-local-stderr")

    def write_line(self, data: bytes) -> None:
        process = self._open_process()
        process.stdin.write(data)
        process.stdin.flush()

    def reader(self) -> Callable[[], bytes]:
        return self._open_process().stdout.readline

    def _open_process(self) -> subprocess.Popen:
        process = self._process
        if process is None:
            raise EOFError("the channel is closed")
        return process

    def upload(self, local_path: Path, remote_dir: str) -> str:
        target = Path(remote_dir) / f"{uuid.uuid4().hex}{local_path.suffix}"
        shutil.copyfile(local_path, target)
        return str(target)

    def download(self, remote_path: str, local_path: Path) -> None:
        shutil.copyfile(remote_path, local_path)

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def last_words(self) -> str:
        if self._process is None:
            return ""
        try:
            code = self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        status = "it is still running" if code is None else f"it exited with status {code}"
        tail = self._stderr.text() if self._stderr else ""
        return status + (f"; its last output:\n{tail}" if tail else "")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()  # EOF: the server finishes its session cleanly
        except OSError:
            pass
        try:
            process.wait(timeout=CLOSE_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()


class StdioBackend:
    """A backend over one StdioChannel, with the HTTP client's methods."""

    def __init__(self, channel: StdioChannel, reply_timeout: float | None = None):
        """reply_timeout: seconds to wait for each reply (None: as long as it takes). The hello is awaited without
        a limit, since a wrapper such as srun may queue the server for a while; close() ends that wait."""
        self.channel = channel
        self.reply_timeout = reply_timeout
        self.hello: dict | None = None
        self._lines: queue.Queue | None = None
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._connected = False
        self._closing = False

    # Connection.

    def connect(self) -> dict:
        """Open the channel (if not open) and read the server's hello; returns the hello."""
        with self._lock:
            if self._connected:
                return self.hello
            self._closing = False
            self.channel.open()
            self._lines = queue.Queue()
            threading.Thread(target=_pump, args=(self.channel.reader(), self._lines), daemon=True,
                             name="promptface-stdio-reader").start()
            try:
                self.hello = self._read_hello()
            except BaseException:
                self.channel.close()
                raise
            self._connected = True
            return self.hello

    def reconnect(self) -> dict:
        """Drop the current channel (if any) and open a new one."""
        with self._lock:
            self._connected = False
            self.channel.close()
            return self.connect()

    def close(self) -> None:
        """End the session (the server stops at EOF). Safe to call from another thread: a call in flight then
        raises ConnectionLost."""
        self._closing = True
        self._connected = False
        self.channel.close()

    def __enter__(self) -> "StdioBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # The requests (the same as the HTTP client's).

    def health(self) -> Health:
        return _parse(Health, self._call("health", {}))

    def engines(self) -> EngineList:
        return _parse(EngineList, self._call("engines", {}))

    def create_subject(self, photo_path: str | Path) -> SubjectInfo:
        """Upload the photo to the server's upload folder, then calibrate it there."""
        photo_path = Path(photo_path)
        if not photo_path.is_file():
            raise PromptFaceError(f"photo '{photo_path}' does not exist or is not a file")
        with self._lock:
            self.connect()
            remote = self._transfer(f"uploading '{photo_path.name}'",
                                    lambda: self.channel.upload(photo_path, self.hello["upload_dir"]))
            return _parse(SubjectInfo, self._call("create_subject",
                                                  {"photo_path": remote, "filename": photo_path.name}))

    def create_job(self, request: JobRequest) -> JobInfo:
        return _parse(JobInfo, self._call("create_job", to_wire(request)))

    def job_status(self, job_id: str) -> JobInfo:
        return _parse(JobInfo, self._call("job_status", {"job_id": job_id}))

    def cancel(self, job_id: str) -> JobInfo:
        return _parse(JobInfo, self._call("cancel_job", {"job_id": job_id}))

    def fetch_asset(self, job_id: str, name: str, dest_path: str | Path) -> Path:
        """Copy one asset (a name from JobInfo.files) to dest_path; returns dest_path. A job's set moves from
        partial/ to result/ when it ends: a file that went away between the lookup and the copy is looked up again,
        once."""
        with self._lock:
            for attempt in (1, 2):
                remote = self._call("asset_path", {"job_id": job_id, "name": name})
                try:
                    return self._download(_remote_path(remote, "asset_path"), Path(dest_path))
                except BackendError as error:
                    if error.code != "not_found" or attempt == 2:
                        raise

    def fetch_set(self, job_id: str, dest_zip: str | Path) -> Path:
        """Copy the whole expression set (a zip, once the job succeeded) to dest_zip; returns dest_zip."""
        with self._lock:
            remote = self._call("set_path", {"job_id": job_id})
            return self._download(_remote_path(remote, "set_path"), Path(dest_zip))

    # Plumbing.

    def _read_hello(self) -> dict:
        skipped = []
        for _ in range(MAX_PREAMBLE_LINES):
            raw = self._lines.get()
            if not isinstance(raw, bytes) or not raw:
                raise BackendError("unreachable", f"{self.channel.description} ended before it said hello; "
                                                  f"{self.channel.last_words() or 'no output'}")
            message = _json_object(raw)
            if message is not None and message.get("event") == "hello":
                break
            skipped.append(raw.decode("utf-8", "replace").rstrip())  # a login banner or a wrapper's chatter
        else:
            raise BackendError("protocol", f"{self.channel.description} printed {MAX_PREAMBLE_LINES} lines without "
                                           f"a hello; is the remote command `promptface-backend serve --stdio`? "
                                           f"It said: {skipped[:3]}")
        if skipped:
            log.info("ignored %d lines before the backend's hello: %s", len(skipped), skipped[:5])
        if message.get("api_version") != API_VERSION:
            raise BackendError("protocol", f"{self.channel.description} speaks API version "
                                           f"{message.get('api_version')}, this add-on speaks {API_VERSION}; "
                                           "update the older of the two")
        if not isinstance(message.get("upload_dir"), str):
            raise BackendError("protocol", f"{self.channel.description} sent a hello without an upload_dir")
        return message

    def _call(self, method: str, params: dict) -> dict:
        """Send one request and wait for its reply; returns the result or raises BackendError."""
        with self._lock:
            self.connect()
            request_id = next(self._ids)
            line = json.dumps({"id": request_id, "method": method, "params": params}) + "\n"
            try:
                self.channel.write_line(line.encode("utf-8"))
                reply = self._read_reply(request_id, method)
            except (OSError, EOFError, ValueError) as error:
                raise self._lost(f"while waiting for the reply to '{method}'", error) from None
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise BackendError(error.get("error", "internal"), error.get("message", f"'{method}' failed"),
                               error.get("retry_after"))
        if not isinstance(reply.get("result"), dict):
            raise BackendError("protocol", f"the reply to '{method}' has neither a result nor an error: {reply}")
        return reply["result"]

    def _read_reply(self, request_id: int, method: str) -> dict:
        while True:
            try:
                raw = self._lines.get(timeout=self.reply_timeout)
            except queue.Empty:
                raise BackendError("timeout", f"{self.channel.description} did not answer '{method}' within "
                                              f"{self.reply_timeout:g} s; it may still be busy (its late reply will "
                                              "be ignored): try again, or reconnect") from None
            if isinstance(raw, BaseException):
                raise raw
            if not raw:
                raise EOFError("end of stream")
            message = _json_object(raw)
            if message is None:
                log.warning("ignored a line that is not JSON from %s: %r", self.channel.description, raw[:200])
            elif message.get("id") == request_id:
                return message
            # else: the reply to an earlier, interrupted request, or an event this client does not use

    def _transfer(self, what: str, copy: Callable[[], object]):
        try:
            return copy()
        except FileNotFoundError:
            raise BackendError("not_found", f"{what} failed: the file is no longer there; ask for the job's files "
                                            "again") from None
        except (OSError, EOFError) as error:
            if not self._closing and self.channel.is_alive():
                raise BackendError("protocol", f"{what} failed: {error}") from None
            raise self._lost(f"while {what}", error) from None

    def _download(self, remote: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        self._transfer(f"downloading '{remote}'", lambda: self.channel.download(remote, partial))
        partial.replace(dest)
        return dest

    def _lost(self, context: str, error: BaseException) -> ConnectionLost:
        """Mark the channel gone and build the error that says so."""
        self._connected = False
        if self._closing:
            return ConnectionLost(f"the connection to {self.channel.description} was closed {context}")
        words = self.channel.last_words()
        self.channel.close()
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return ConnectionLost(f"lost the connection to {self.channel.description} {context} ({detail})"
                              + (f"; {words}" if words else "")
                              + ". Reconnect to go on: submitted jobs stay on the server and can be asked about "
                                "by their id.")


class LocalBackend(StdioBackend):
    """The backend as a child process of this one (`promptface-backend serve --stdio`); it starts on the first call
    (or `connect()`)."""

    def __init__(self, data_dir: str | Path | None = None, timeout: float | None = None,
                 command: list[str] | None = None):
        super().__init__(LocalStdioChannel(data_dir, command), reply_timeout=timeout)


def _pump(read_line: Callable[[], bytes], lines: queue.Queue) -> None:
    """Move one connection's lines into a queue; its end arrives as b"" or as the exception that ended it."""
    while True:
        try:
            raw = read_line()
        except (OSError, EOFError, ValueError) as error:
            lines.put(error)
            return
        lines.put(raw)
        if not raw:
            return


def _json_object(raw: bytes) -> dict | None:
    try:
        message = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _parse(cls, result: dict):
    try:
        return from_wire(cls, result)
    except (TypeError, ValueError) as error:
        raise BackendError("protocol", f"the backend sent an unexpected {cls.__name__}: {error}") from None


def _remote_path(result: dict, method: str) -> str:
    path = result.get("path")
    if not isinstance(path, str) or not path:
        raise BackendError("protocol", f"the reply to '{method}' has no path: {result}")
    return path
