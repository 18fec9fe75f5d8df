"""The HTTP transport: a client of `promptface-backend serve` (routes in addon/core/protocol.py).

Pure (no bpy); `requests` is imported when a client is made (Blender bundles it). Every failure becomes a
BackendError whose message a person can act on: the server's own ErrorReply message, or, when there is no reply,
the URL and what to check.
"""
import mimetypes
import os
from pathlib import Path
from urllib.parse import quote

from ..core.atomic_files import staged_file
from ..core.protocol import (API_VERSION, EngineList, ErrorReply, Health, JobInfo, JobRequest, SubjectInfo,
                             from_wire, to_wire)
from .errors import BackendError

DOWNLOAD_CHUNK_BYTES = 1 << 20
# A job id that cannot exist: asking for it tells whether the token is accepted (404) or not (401).
TOKEN_PROBE_JOB_ID = "token-check"


class HTTPBackend:
    """One PromptFace HTTP server. `url` is its base (http://127.0.0.1:8765); `timeout` in seconds applies to
    connecting and to each wait for data."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        import requests

        self.url = url.strip().rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise BackendError("bad_request", f"backend URL {url!r} must start with http:// or https://")
        self.timeout = timeout
        self._requests = requests
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token.strip()}"

    # -- the protocol ------------------------------------------------------------------------------------------

    def health(self) -> Health:
        """The server's status; refuses a server that speaks another API version."""
        health = self._call("GET", "/v1/health", Health)
        if health.api_version != API_VERSION:
            raise BackendError("protocol", f"the server at {self.url} speaks API version {health.api_version}; this "
                                           f"add-on speaks version {API_VERSION} — update the one that is older")
        return health

    def engines(self) -> EngineList:
        return self._call("GET", "/v1/engines", EngineList)

    def check_token(self) -> None:
        """Raise BackendError('unauthorized', …) unless the server accepts the token (health needs none)."""
        try:
            self.job_status(TOKEN_PROBE_JOB_ID)
        except BackendError as error:
            if error.code != "not_found":
                raise

    def create_subject(self, photo_path) -> SubjectInfo:
        photo_path = Path(photo_path)
        mime = mimetypes.guess_type(photo_path.name)[0] or "application/octet-stream"
        try:
            photo = photo_path.open("rb")
        except OSError as error:
            raise BackendError("bad_request", f"cannot read the photo {photo_path}: {error.strerror}") from None
        with photo:
            return self._call("POST", "/v1/subjects", SubjectInfo, files={"photo": (photo_path.name, photo, mime)})

    def create_job(self, request: JobRequest) -> JobInfo:
        return self._call("POST", "/v1/jobs", JobInfo, json=to_wire(request))

    def job_status(self, job_id: str) -> JobInfo:
        return self._call("GET", f"/v1/jobs/{_segment(job_id)}", JobInfo)

    def cancel(self, job_id: str) -> JobInfo:
        return self._call("POST", f"/v1/jobs/{_segment(job_id)}/cancel", JobInfo)

    def fetch_asset(self, job_id: str, name: str, dest_path) -> Path:
        """Download one asset of a job (a name from JobInfo.files) to dest_path."""
        return self._download(f"/v1/jobs/{_segment(job_id)}/assets/{_segment(name)}", Path(dest_path))

    def fetch_set(self, job_id: str, dest_zip) -> Path:
        """Download the whole expression set of a finished job as a zip."""
        return self._download(f"/v1/jobs/{_segment(job_id)}/expression-set.zip", Path(dest_zip))

    def close(self) -> None:
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _call(self, method: str, route: str, reply_type, **kwargs):
        response = self._send(method, route, **kwargs)
        with response:
            if response.status_code >= 400:
                raise self._error(response, route)
            try:
                return from_wire(reply_type, response.json())
            except (ValueError, TypeError, KeyError) as error:
                raise BackendError("protocol", f"{self.url}{route} sent a reply PromptFace cannot read ({error}); "
                                               "is that URL a PromptFace server?") from None

    def _download(self, route: str, dest: Path) -> Path:
        """Stream a file to a temporary name beside dest, then rename it into place (no half-written files)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        response = self._send("GET", route, stream=True)
        with response:
            if response.status_code >= 400:
                raise self._error(response, route)
            try:
                with staged_file(dest) as partial, open(partial, "wb", opener=_owner_only) as out:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)
            except self._requests.RequestException as error:
                raise self._transport_error(error, route) from None
        return dest

    def _send(self, method: str, route: str, **kwargs):
        try:
            return self._session.request(method, self.url + route, timeout=self.timeout, **kwargs)
        except self._requests.RequestException as error:
            raise self._transport_error(error, route) from None

    def _transport_error(self, error: Exception, route: str) -> BackendError:
        exceptions = self._requests.exceptions
        if isinstance(error, exceptions.ConnectTimeout):
            return BackendError("unreachable", f"no answer from the PromptFace server at {self.url} within "
                                               f"{self.timeout:g} s; check the URL in the add-on preferences and "
                                               "that no firewall is in the way")
        if isinstance(error, exceptions.Timeout):
            return BackendError("timeout", f"the PromptFace server at {self.url} stopped answering ({route}) for "
                                           f"{self.timeout:g} s; it may be overloaded — check it, or raise the "
                                           "timeout in the add-on preferences")
        if isinstance(error, exceptions.ConnectionError):
            return BackendError("unreachable", f"cannot connect to the PromptFace server at {self.url}; check that "
                                               "`promptface-backend serve` is running there and that the URL "
                                               "(host and port) in the add-on preferences is right")
        return BackendError("unreachable", f"request to {self.url}{route} failed: {error}")

    def _error(self, response, route: str) -> BackendError:
        """The ErrorReply in a failed response as BackendError; any other body is summarised with the status."""
        retry_after = _int_or_none(response.headers.get("Retry-After"))
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), dict):
            body = body["detail"]  # an ErrorReply raised inside an HTTPException
        if isinstance(body, dict) and "error" in body and "message" in body:
            reply = from_wire(ErrorReply, body)
            return BackendError(reply.error, reply.message,
                                reply.retry_after if reply.retry_after is not None else retry_after)
        if response.status_code == 401:
            return BackendError("unauthorized", f"the PromptFace server at {self.url} refused the token; copy the "
                                                "token from the server's data folder into the add-on preferences")
        text = (body.get("detail") if isinstance(body, dict) else None) or response.text[:200].strip()
        return BackendError(f"http_{response.status_code}", f"{self.url}{route} answered HTTP "
                                                            f"{response.status_code}: {text or response.reason}; "
                                                            "is that URL a PromptFace server?", retry_after)


def _segment(value: str) -> str:
    """One URL path segment (job ids and asset names never contain '/')."""
    return quote(str(value), safe="")


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _owner_only(path: str, flags: int) -> int:
    """Downloads are readable by their owner only (0600, as ever): one may be the subject's photo."""
    return os.open(path, flags, 0o600)
