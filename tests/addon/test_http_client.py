"""The HTTP client's error mapping and the online-access policy, without Blender.

A small stdlib HTTP server plays the backend here so that each failure can be produced on purpose; the tests
against the real server are in tests/blender/test_extension.py.
"""
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from addon.core.errors import PromptFaceError
from addon.core.protocol import JobRequest
from addon.transports.connect import BackendSettings, check_settings
from addon.transports.errors import BackendError
from addon.transports.http import HTTPBackend
from addon.transports.online_access import check_online_access


class StubServer:
    """Answers each request with routes[(method, path)] = (status, headers, body bytes); records the requests."""

    def __init__(self):
        self.routes, self.requests = {}, []
        self.release = threading.Event()  # a route with status None waits for this (to provoke a timeout)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                stub.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
                status, headers, body = stub.routes.get((self.command, self.path),
                                                        (404, {"Content-Type": "text/plain"}, b"no such page"))
                if status is None:
                    stub.release.wait(10)
                    return
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, method, path, status, body, **headers):
        self.routes[(method, path)] = (status, {"Content-Type": "application/json", **headers},
                                       json.dumps(body).encode())

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def job_info(**changes):
    info = {"job_id": "j1", "subject_id": "s1", "status": "running", "progress": 0.5, "message": "editing",
            "expressions": [{"name": "happy", "prompt": "happy", "status": "done"}], "files": ["manifest.json"]}
    return {**info, **changes}


def test_replies_become_protocol_dataclasses_and_the_token_is_sent(stub):
    stub.json("GET", "/v1/health", 200, {"status": "ok", "api_version": 1, "version": "0.1.0", "extra": 1})
    stub.json("POST", "/v1/jobs", 202, job_info())
    with HTTPBackend(stub.url + "/", "secret") as backend:
        assert backend.health().version == "0.1.0"
        job = backend.create_job(JobRequest(subject_id="s1", prompts=["happy"]))
    assert job.expressions[0].status == "done" and job.files == ["manifest.json"]
    method, path, headers, body = stub.requests[-1]
    assert headers["Authorization"] == "Bearer secret"
    assert json.loads(body)["prompts"] == ["happy"]


def test_an_error_reply_keeps_the_servers_code_and_message(stub):
    stub.json("POST", "/v1/jobs", 401, {"error": "unauthorized", "message": "wrong token; see DATA_DIR/token"})
    stub.json("GET", "/v1/jobs/j1", 429, {"error": "queue_full", "message": "the queue is full"},
              **{"Retry-After": "7"})
    backend = HTTPBackend(stub.url, "wrong")
    with pytest.raises(BackendError, match="wrong token; see DATA_DIR/token") as caught:
        backend.create_job(JobRequest(subject_id="s1", prompts=["happy"]))
    assert caught.value.code == "unauthorized"
    with pytest.raises(BackendError) as caught:
        backend.job_status("j1")
    assert (caught.value.code, caught.value.retry_after) == ("queue_full", 7)


def test_a_page_that_is_not_promptface_is_named(stub):
    with pytest.raises(BackendError, match=r"/v1/engines answered HTTP 404: no such page.*PromptFace server") as caught:
        HTTPBackend(stub.url, "t").engines()
    assert caught.value.code == "http_404"
    stub.json("GET", "/v1/health", 200, {"hello": "world"})
    with pytest.raises(BackendError, match="cannot read.*missing 'status'"):
        HTTPBackend(stub.url, "t").health()
    stub.json("GET", "/v1/health", 200, {"status": "ok", "api_version": 2, "version": "9"})
    with pytest.raises(BackendError, match="API version 2"):
        HTTPBackend(stub.url, "t").health()


def test_a_refused_connection_names_the_url_and_what_to_check():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(BackendError, match=f"cannot connect to the PromptFace server at {url}.*serve") as caught:
        HTTPBackend(url, "t").health()
    assert caught.value.code == "unreachable"


def test_a_server_that_stops_answering_times_out(stub):
    stub.routes[("GET", "/v1/jobs/j1")] = (None, {}, b"")
    with pytest.raises(BackendError, match=f"{stub.url} stopped answering.*0.3 s") as caught:
        HTTPBackend(stub.url, "t", timeout=0.3).job_status("j1")
    assert caught.value.code == "timeout"


def test_assets_are_streamed_into_place_and_failures_leave_nothing(stub, tmp_path):
    payload = bytes(range(256)) * 5000
    stub.routes[("GET", "/v1/jobs/j1/assets/happy.vertices.npy")] = (200, {}, payload)
    stub.json("GET", "/v1/jobs/j1/expression-set.zip", 409, {"error": "not_ready", "message": "still running"})
    backend = HTTPBackend(stub.url, "t")
    dest = backend.fetch_asset("j1", "happy.vertices.npy", tmp_path / "set" / "happy.vertices.npy")
    assert dest.read_bytes() == payload
    with pytest.raises(BackendError, match="still running"):
        backend.fetch_set("j1", tmp_path / "set.zip")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["happy.vertices.npy", "set"]


def test_check_token_accepts_not_found_and_refuses_unauthorized(stub):
    stub.json("GET", "/v1/jobs/token-check", 404, {"error": "not_found", "message": "no such job"})
    HTTPBackend(stub.url, "good").check_token()
    stub.json("GET", "/v1/jobs/token-check", 401, {"error": "unauthorized", "message": "bad token"})
    with pytest.raises(BackendError, match="bad token"):
        HTTPBackend(stub.url, "bad").check_token()


@pytest.mark.parametrize("url", ["http://localhost:8000", "http://127.0.0.1:8765/", "http://127.8.0.1",
                                 "http://[::1]:9000", "ssh://me@localhost:2222", "https://api.localhost"])
def test_this_computer_is_always_allowed(url):
    check_online_access(url, online_access=False)


def test_other_hosts_need_online_access():
    check_online_access("http://gpu.example.org:8000", online_access=True)
    with pytest.raises(PromptFaceError, match="gpu.example.org.*Allow Online Access"):
        check_online_access("http://gpu.example.org:8000", online_access=False)
    with pytest.raises(PromptFaceError, match="--offline-mode"):
        check_online_access("ssh://me@10.0.0.5:22", online_access=False, overridden=True)
    for bad in ("gpu.example.org:8000", "ftp://host", "http://host:port"):
        with pytest.raises(PromptFaceError, match="expected e.g. http://127.0.0.1:8765"):
            check_online_access(bad, online_access=True)


def test_settings_are_checked_before_connecting():
    check_settings(BackendSettings(kind="LOCAL"), online_access=False)
    with pytest.raises(PromptFaceError, match="token"):
        check_settings(BackendSettings(kind="HTTP", token=" "), online_access=True)
    with pytest.raises(PromptFaceError, match="Allow Online Access"):
        check_settings(BackendSettings(kind="SSH", ssh_host="cluster.example.org", ssh_user="me"),
                       online_access=False)
    with pytest.raises(PromptFaceError, match="SSH host"):
        check_settings(BackendSettings(kind="SSH"), online_access=True)
