"""The JSON-lines server in-process over pipes, on the real service and CPU engines."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from addon.core.errors import PromptFaceError
from addon.core.expression_set import read_expression_set
from addon.core.protocol import API_VERSION
from backend.subject.photo_io import encode_png_bytes
from backend.serving.service import Service
from backend.settings import Settings
from waiting import finished, wait_for
from backend.serving.data_dir_lock import data_dir_lock
from backend.serving.stdio_server import UPLOADS_FOLDER, run_stdio

PROMPTS = ["happy", "AU12:0.8 AU6:0.5"]


class Session:
    """run_stdio on a thread, spoken to through two pipes."""

    def __init__(self, service: Service):
        client_to_server, self._requests = os.pipe()
        self._replies, server_to_client = os.pipe()
        self._server_in = open(client_to_server, "r", encoding="utf-8")
        self._server_out = open(server_to_client, "w", encoding="utf-8")
        self.writer = open(self._requests, "w", encoding="utf-8")
        self.reader = open(self._replies, "r", encoding="utf-8")
        self.thread = threading.Thread(target=self._serve, args=(service,), daemon=True)
        self.thread.start()
        self.hello = self.read()
        self._ids = 0

    def _serve(self, service: Service) -> None:
        try:
            run_stdio(service, self._server_in, self._server_out)
        finally:
            self._server_out.close()

    def read(self) -> dict:
        line = self.reader.readline()
        assert line, "the server closed its output"
        return json.loads(line)

    def send_line(self, line: str) -> dict:
        self.writer.write(line + "\n")
        self.writer.flush()
        return self.read()

    def call(self, method: str, **params) -> dict:
        self._ids += 1
        reply = self.send_line(json.dumps({"id": self._ids, "method": method, "params": params}))
        assert reply["id"] == self._ids
        return reply

    def result(self, method: str, **params) -> dict:
        reply = self.call(method, **params)
        assert "result" in reply, reply
        return reply["result"]

    def end(self) -> None:
        self.writer.close()  # EOF
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server did not stop at EOF"
        self.reader.close()
        self._server_in.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    service = Service(Settings(data_dir=tmp_path_factory.mktemp("stdio-data")))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def session(service):
    session = Session(service)
    yield session
    if not session.writer.closed:
        session.end()


def test_hello_then_health(session, service):
    hello = session.hello
    assert hello["event"] == "hello" and hello["api_version"] == API_VERSION and hello["version"]
    upload_dir = Path(hello["upload_dir"])
    assert upload_dir.is_dir() and upload_dir.parent == service.settings.data_dir.resolve() / UPLOADS_FOLDER
    health = session.result("health")
    assert health["api_version"] == API_VERSION and health["status"] in ("loading", "ok")
    assert {engine["name"] for engine in session.result("engines")["engines"]} >= {"warp", "landmarks"}


def test_eof_ends_the_session_and_removes_its_upload_folder(service):
    session = Session(service)
    session.end()
    assert not Path(session.hello["upload_dir"]).exists()


@pytest.mark.parametrize("line, reply_id, expected", [
    ("{not json", None, "not JSON"),
    ("[1, 2]", None, "must be a JSON object"),
    ('{"method": "health"}', None, "needs an 'id'"),
    ('{"id": 5}', 5, "needs a 'method'"),
    ('{"id": 6, "method": "health", "params": [1]}', 6, "'params' must be an object"),
    ('{"id": "seven", "method": "format_disk", "params": {}}', "seven", "unknown method 'format_disk'"),
    ('{"id": 8, "method": "job_status", "params": {}}', 8, "'job_id' must be a non-empty string"),
    ("[" * 100_000 + "]" * 100_000, None, "nests too deeply"),
])
def test_bad_requests_get_error_replies_and_the_session_goes_on(session, line, reply_id, expected):
    reply = session.send_line(line)
    assert reply["id"] == reply_id and reply["error"]["error"] == "bad_request", reply
    assert expected in reply["error"]["message"], reply
    assert session.result("health")["api_version"] == API_VERSION


def test_a_line_over_the_limit_is_refused_without_holding_it(session, service):
    """A request line 3× the limit gets one bad_request (it is read in pieces of the limit and dropped), and the
    next line is served."""
    limit = service.settings.max_request_bytes
    reply = session.send_line('{"id": 1, "method": "health", "params": {"x": "' + "a" * (3 * limit) + '"}}')
    assert reply["id"] is None and reply["error"]["error"] == "bad_request" and "kB" in reply["error"]["message"]
    assert session.result("health")["api_version"] == API_VERSION


def test_delete_methods(session):
    upload_dir = Path(session.hello["upload_dir"])
    photo = upload_dir / "mirrored.png"  # a subject of its own (the other tests share the astronaut's)
    photo.write_bytes(encode_png_bytes(np.ascontiguousarray(data.astronaut()[:, ::-1])))
    subject = session.result("create_subject", photo_path=str(photo), filename="mirrored.png")
    job = session.result("create_job", subject_id=subject["subject_id"], prompts=["AU12:0.4"])
    job = wait_for(lambda: session.result("job_status", job_id=job["job_id"]), finished)
    assert session.result("delete_job", job_id=job["job_id"]) == {"kind": "job", "id": job["job_id"],
                                                                  "jobs_deleted": 0}
    assert session.call("job_status", job_id=job["job_id"])["error"]["error"] == "not_found"
    deleted = session.result("delete_subject", subject_id=subject["subject_id"])
    assert deleted == {"kind": "subject", "id": subject["subject_id"], "jobs_deleted": 0}
    assert session.call("delete_subject", subject_id=subject["subject_id"])["error"]["error"] == "not_found"


def test_service_errors_keep_their_code(session):
    reply = session.call("job_status", job_id="0" * 32)
    assert reply["error"]["error"] == "not_found" and "no job" in reply["error"]["message"]
    reply = session.call("create_job", subject_id="nobody", prompts=["happy"])
    assert reply["error"]["error"] in ("not_found", "invalid", "bad_request"), reply
    reply = session.call("create_job", prompts=["happy"])
    assert reply["error"]["error"] == "bad_request" and "subject_id" in reply["error"]["message"]


def test_a_photo_outside_the_upload_folder_is_refused_and_left_alone(session, tmp_path, astronaut_png):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(astronaut_png)
    upload_dir = Path(session.hello["upload_dir"])
    link = upload_dir / "link.png"
    link.symlink_to(outside)
    for path in (outside, upload_dir / ".." / "elsewhere.png", link, upload_dir):
        reply = session.call("create_subject", photo_path=str(path), filename="x.png")
        assert reply["error"]["error"] == "bad_request", (path, reply)
        assert "upload folder" in reply["error"]["message"] or "no photo" in reply["error"]["message"]
    assert outside.read_bytes() == astronaut_png
    reply = session.call("create_subject", photo_path=str(upload_dir / "missing.png"))
    assert "no photo at" in reply["error"]["message"]


def test_a_whole_job(session, tmp_path, astronaut_png):
    upload_dir = Path(session.hello["upload_dir"])
    photo = upload_dir / "a1b2.png"
    photo.write_bytes(astronaut_png)
    subject = session.result("create_subject", photo_path=str(photo), filename="astronaut.png")
    assert subject["size"] == [512, 512] and not photo.exists()
    job = session.result("create_job", subject_id=subject["subject_id"], prompts=PROMPTS)
    job = wait_for(lambda: session.result("job_status", job_id=job["job_id"]), finished)
    assert job["status"] == "succeeded", job
    assert [e["status"] for e in job["expressions"]] == ["done", "done"]
    manifest = Path(session.result("asset_path", job_id=job["job_id"], name="manifest.json")["path"])
    assert json.loads(manifest.read_text())["expressions"]
    refused = session.call("asset_path", job_id=job["job_id"], name="../store.sqlite3")
    assert refused["error"]["error"] == "bad_request"
    zip_path = Path(session.result("set_path", job_id=job["job_id"])["path"])
    shutil.copy(zip_path, tmp_path / "set.zip")
    names = [e.name for e in read_expression_set(tmp_path / "set.zip").expressions]
    assert names == ["neutral", "as_photographed", "happy", "au12_80_au6_50"]


def test_claim_stdout_keeps_prints_out_of_the_protocol():
    script = textwrap.dedent("""
        import os, sys
        from backend.serving.stdio_server import claim_stdout
        protocol = claim_stdout()
        print("a library printing")
        os.write(1, b"a C library writing to fd 1\\n")
        protocol.write('{"event": "hello"}\\n')
        protocol.flush()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == '{"event": "hello"}\n'
    assert "a library printing" in done.stderr and "a C library writing to fd 1" in done.stderr


def test_one_server_per_data_dir(tmp_path):
    with data_dir_lock(tmp_path):
        with pytest.raises(PromptFaceError, match="another PromptFace server"):
            with data_dir_lock(tmp_path, wait=0.2):
                pass
    with data_dir_lock(tmp_path, wait=0.2):  # free again
        pass
