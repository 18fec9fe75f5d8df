"""The SSH transport against a real OpenSSH sshd on loopback, running the real `promptface-backend serve --stdio`.

The sshd fixture (addon/bench/loopback_sshd.py, which `promptface bench transports` uses too) must start: CI
installs openssh-server (.ci/run), so a missing sshd fails these tests.
"""
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from waiting import finished, wait_for

from addon.bench.loopback_sshd import BACKEND, SshdServer
from addon.core.expression_set import read_expression_set
from addon.core.protocol import JobRequest
from addon.transports.errors import BackendError, ConnectionLost
from addon.transports.ssh import SSHBackend, SSHChannel, SSHSettings
from addon.transports.stdio_client import StdioBackend

PROMPTS = ["happy", "AU12:0.8 AU6:0.5"]


class Sshd(SshdServer):
    def settings(self, known_hosts: Path, data_dir: Path, **changes) -> SSHSettings:
        values = dict(host=self.host, port=self.port, user=self.user, key_file=str(self.user_key),
                      known_hosts=str(known_hosts), remote_command="{command}",
                      serve_command=self.serve_command(data_dir), timeout=10)
        return SSHSettings(**{**values, **changes})


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Sshd:
    """sshd on a free loopback port with a throwaway host key, accepting one throwaway user key."""
    with Sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def photo(tmp_path) -> Path:
    from skimage import data

    from backend.subject.photo_io import encode_png_bytes
    path = tmp_path / "astronaut.png"
    path.write_bytes(encode_png_bytes(data.astronaut()))
    return path


def test_a_whole_job_over_ssh(sshd, tmp_path, photo):
    settings = sshd.settings(sshd.known_hosts(tmp_path / "known_hosts"), tmp_path / "data")
    with StdioBackend(SSHChannel(settings), reply_timeout=60) as backend:
        hello = backend.connect()
        assert hello["upload_dir"].startswith(str(tmp_path / "data"))
        assert backend.health().status in ("loading", "ok")
        assert {engine.name for engine in backend.engines().engines} >= {"warp", "landmarks"}
        subject = backend.create_subject(photo)
        assert subject.size == [512, 512]
        assert list(Path(hello["upload_dir"]).iterdir()) == []  # the server removed the uploaded photo
        job = _run_job(backend, subject.subject_id)
        assert job.status == "succeeded", job
        manifest = backend.fetch_asset(job.job_id, "manifest.json", tmp_path / "assets" / "manifest.json")
        assert b'"happy"' in manifest.read_bytes()
        zip_path = backend.fetch_set(job.job_id, tmp_path / "set.zip")
    expression_set = read_expression_set(zip_path)
    assert [e.name for e in expression_set.expressions] == ["neutral", "as_photographed", "happy", "au12_80_au6_50"]


def test_an_unknown_host_key_is_refused_with_how_to_trust_it(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    backend = StdioBackend(SSHChannel(sshd.settings(known_hosts, tmp_path / "data")))
    with pytest.raises(BackendError) as caught:
        backend.connect()
    assert caught.value.code == "host_key_unknown"
    message = str(caught.value)
    assert _fingerprint(sshd.host_key) in message and "never trusts" in message
    assert known_hosts.read_text() == ""  # nothing was added
    assert backend.channel._client is None and not (tmp_path / "data").exists()  # nothing ran
    # The command the message gives really trusts the key (a stand-in server that only says hello checks it).
    keyscan = message.rsplit("trust it with: ", 1)[1]
    assert keyscan == f"ssh-keyscan -t ed25519 -p {sshd.port} 127.0.0.1 >> {known_hosts}"
    subprocess.run(keyscan, shell=True, check=True, capture_output=True)
    hello_only = """echo '{"event": "hello", "api_version": 1, "upload_dir": "/tmp", "version": "stand-in"}'"""
    with StdioBackend(SSHChannel(sshd.settings(known_hosts, tmp_path / "data", remote_command=hello_only))) as trusted:
        assert trusted.connect()["version"] == "stand-in"


def test_a_changed_host_key_is_refused_as_a_possible_attack(sshd, tmp_path):
    other = tmp_path / "other_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known_hosts = sshd.known_hosts(tmp_path / "known_hosts", other.with_suffix(".pub"))
    before = known_hosts.read_text()
    with pytest.raises(BackendError) as caught:
        StdioBackend(SSHChannel(sshd.settings(known_hosts, tmp_path / "data"))).connect()
    assert caught.value.code == "host_key_changed"
    message = str(caught.value)
    assert "man-in-the-middle" in message
    assert _fingerprint(sshd.host_key) in message and _fingerprint(other) in message
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {known_hosts}" in message
    assert known_hosts.read_text() == before


def test_a_wrong_user_key_is_unauthorized(sshd, tmp_path):
    stranger = tmp_path / "stranger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    settings = sshd.settings(sshd.known_hosts(tmp_path / "known_hosts"), tmp_path / "data", key_file=str(stranger))
    with pytest.raises(BackendError, match="refused the key") as caught:
        StdioBackend(SSHChannel(settings)).connect()
    assert caught.value.code == "unauthorized"


def test_the_remote_command_template_wraps_the_server(sshd, tmp_path):
    known_hosts = sshd.known_hosts(tmp_path / "known_hosts")
    # The wrapper runs (its stdout chatter before the hello is skipped) and hands its environment to the server.
    wrapped = sshd.settings(known_hosts, tmp_path / "data", remote_command=(
        "echo 'module cuda loaded'; export PROMPTFACE_TEST=1; "
        "test \"$PROMPTFACE_TEST\" = 1 && {command}"))
    assert wrapped.command().endswith(f"&& {BACKEND} serve --stdio --data-dir {tmp_path / 'data'}")
    with StdioBackend(SSHChannel(wrapped)) as backend:
        assert backend.health().status in ("loading", "ok")
    # A wrapper that fails is reported with its own words.
    broken = sshd.settings(known_hosts, tmp_path / "data", remote_command="no-such-wrapper --gpu {command}")
    with pytest.raises(BackendError, match="(?s)ended before it said hello.*status 127.*no-such-wrapper") as caught:
        StdioBackend(SSHChannel(broken)).connect()
    assert caught.value.code == "unreachable"
    # Without the placeholder the command runs as written.
    assert SSHSettings(host="h", user="u", remote_command="run-it --as-is").command() == "run-it --as-is"


def test_ssh_backend_from_loose_settings(sshd, tmp_path):
    backend = SSHBackend("127.0.0.1", port=sshd.port, key_file=str(sshd.user_key),
                         known_hosts=str(sshd.known_hosts(tmp_path / "known_hosts")),
                         command=f"{BACKEND} serve --stdio --data-dir {tmp_path / 'data'}", timeout=30)
    with backend:
        assert backend.health().status in ("loading", "ok")


@pytest.mark.slow
def test_a_dropped_connection_mid_job_then_reconnect(sshd, tmp_path, photo):
    """The connection drops while a job runs: the call fails with ConnectionLost; after reconnect() a new server
    process on the same data dir reports the job.

    Observed: when the SSH connection closes, the old server sees EOF, stops after its current expression and puts
    the job back at the head of the queue; the new server (it waits for the old one to let go of the data dir) runs
    it again. When the server process is killed, a job it was running is reported failed ("interrupted by a server
    restart") by the next server; a job still queued runs there.
    """
    data_dir = tmp_path / "data"
    settings = sshd.settings(sshd.known_hosts(tmp_path / "known_hosts"), data_dir)
    with StdioBackend(SSHChannel(settings), reply_timeout=60) as backend:
        subject = backend.create_subject(photo)
        job = backend.create_job(JobRequest(subject_id=subject.subject_id, prompts=PROMPTS))
        # 1. The SSH connection itself drops (as when the network goes away).
        backend.channel._client.get_transport().close()
        with pytest.raises(ConnectionLost, match="lost the connection to the backend on ssh") as caught:
            backend.job_status(job.job_id)
        assert "SSH connection closed" in str(caught.value) and "Reconnect" in str(caught.value)
        backend.reconnect()
        assert backend.job_status(job.job_id).job_id == job.job_id
        # 2. The server process is killed while a call waits for its reply.
        server = _server_pid(data_dir)
        threading.Timer(0.2, os.kill, (server, signal.SIGKILL)).start()
        with pytest.raises(ConnectionLost, match="remote command ended without an exit status"):
            _wait_for_drop(backend)
        backend.reconnect()
        final = _run_job(backend, subject.subject_id, job_id=job.job_id)
        assert final.status == "succeeded" or (final.status == "failed" and "interrupted" in final.error), final


def _wait_for_drop(backend: StdioBackend) -> None:
    """Keep asking until the channel drops (at most 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        backend.health()
        time.sleep(0.05)


def _run_job(backend: StdioBackend, subject_id: str, job_id: str | None = None, limit: float = 60.0):
    job = (backend.job_status(job_id) if job_id else
           backend.create_job(JobRequest(subject_id=subject_id, prompts=PROMPTS)))
    return wait_for(lambda: backend.job_status(job.job_id), finished, timeout=limit)


def _server_pid(data_dir: Path) -> int:
    """The pid of the newest serve --stdio process for data_dir (the tests' own, found by its unique data dir; an
    older one may still be on its way out)."""
    wanted, found = str(data_dir).encode(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        if wanted in arguments and b"--stdio" in arguments:
            found[int(entry.name)] = started
    assert found, f"no serve --stdio process for {data_dir}"
    return max(found, key=found.get)


def _fingerprint(key: Path) -> str:
    output = subprocess.run(["ssh-keygen", "-lf", str(key.with_suffix(".pub"))], check=True, capture_output=True,
                            text=True).stdout
    return output.split()[1]
