"""The JSON-lines client against small scripted servers: framing, errors, timeouts and dropped channels.

The real server is exercised in tests/backend/test_stdio_server.py and, over SSH, in test_ssh_transport.py.
"""
import sys
import textwrap
import threading
import time

import pytest

from addon.core.protocol import API_VERSION
from addon.transports.errors import BackendError, ConnectionLost
from addon.transports.stdio_client import LocalStdioChannel, StdioBackend

# A scripted server: prints a banner line (as a login shell might), the hello, then answers requests.
#   health → a Health; die → exits with status 3 and a last word on stderr; hang → no answer (the server reads on);
#   refuse → an ErrorReply; late → answered only when the next request arrives: its reply (status "late") goes out
#   first, then the next one's, whose Health then says so in its version.
FAKE_SERVER = textwrap.dedent("""
    import json, sys
    api_version = int(sys.argv[1])
    print("Welcome to the cluster (a banner on stdout)", flush=True)
    print(json.dumps({"event": "hello", "api_version": api_version, "upload_dir": "/nowhere", "version": "t"}),
          flush=True)
    late = None
    for line in sys.stdin:
        request = json.loads(line)
        method, reply = request["method"], {"id": request["id"]}
        if method == "die":
            print("fatal: the fake server was told to die", file=sys.stderr, flush=True)
            sys.exit(3)
        if method == "hang":
            continue
        if method == "late":
            late = request["id"]
            continue
        version = "t"
        if late is not None:
            print(json.dumps({"id": late, "result": {"status": "late", "api_version": api_version, "version": "t"}}),
                  flush=True)
            late, version = None, "t, after the late reply"
        if method == "refuse":
            reply["error"] = {"error": "queue_full", "message": "the queue is full", "retry_after": 7}
        else:
            reply["result"] = {"status": "ok", "api_version": api_version, "version": version}
        print(json.dumps(reply), flush=True)
""")


@pytest.fixture
def fake_server(tmp_path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)

    def make(api_version: int = API_VERSION, reply_timeout: float | None = None) -> StdioBackend:
        channel = LocalStdioChannel(command=[sys.executable, str(script), str(api_version)])
        return StdioBackend(channel, reply_timeout=reply_timeout)

    return make


def test_banner_lines_before_the_hello_are_skipped(fake_server):
    with fake_server() as backend:
        assert backend.connect()["upload_dir"] == "/nowhere"
        assert backend.health().status == "ok"
        assert backend.health().status == "ok"  # request ids advance, replies still match


def test_an_error_reply_becomes_backend_error(fake_server):
    with fake_server() as backend, pytest.raises(BackendError) as caught:
        backend._call("refuse", {})
    assert (caught.value.code, caught.value.message, caught.value.retry_after) == ("queue_full",
                                                                                   "the queue is full", 7)


def test_another_api_version_is_refused(fake_server):
    with pytest.raises(BackendError, match="API version 99") as caught:
        fake_server(api_version=99).connect()
    assert caught.value.code == "protocol"


def test_a_server_that_dies_at_once_is_reported_with_its_output(tmp_path):
    command = [sys.executable, "-c", "import sys; print('no such engine', file=sys.stderr); sys.exit(5)"]
    backend = StdioBackend(LocalStdioChannel(command=command))
    with pytest.raises(BackendError, match="(?s)ended before it said hello.*status 5.*no such engine") as caught:
        backend.health()
    assert caught.value.code == "unreachable"


def test_a_missing_command_is_unreachable():
    backend = StdioBackend(LocalStdioChannel(command=["/nonexistent/promptface-backend", "serve", "--stdio"]))
    with pytest.raises(BackendError, match="cannot start the local backend") as caught:
        backend.connect()
    assert caught.value.code == "unreachable"


def test_a_reply_timeout_leaves_the_session_usable(fake_server):
    with fake_server(reply_timeout=0.3) as backend:
        with pytest.raises(BackendError, match="did not answer 'late' within 0.3 s") as caught:
            backend._call("late", {})
        assert caught.value.code == "timeout"
        # The late reply reaches the client just before the next one, on the same stream: the client reads it first
        # and must skip it by its id (returning it would give status "late"; a server that never sent it, no "after").
        health = backend.health()
        assert (health.status, health.version) == ("ok", "t, after the late reply")


def test_the_server_dying_mid_call_is_connection_lost_then_reconnect_works(fake_server):
    with fake_server() as backend:
        backend.connect()
        with pytest.raises(ConnectionLost, match="(?s)while waiting for the reply to 'die'.*status 3.*told to die"):
            backend._call("die", {})
        assert not backend.channel.is_alive()
        assert backend.reconnect()["event"] == "hello"
        assert backend.health().status == "ok"


def test_a_killed_server_is_connection_lost(fake_server):
    with fake_server() as backend:
        backend.connect()
        process = backend.channel._process
        threading.Timer(0.3, process.kill).start()
        with pytest.raises(ConnectionLost, match="lost the connection to the local backend") as caught:
            backend._call("hang", {})
        assert "status -9" in str(caught.value)
        assert backend.health().status == "ok"  # the next call opens a new channel


def test_close_from_another_thread_ends_a_waiting_call(fake_server):
    backend = fake_server()
    backend.connect()
    threading.Timer(0.3, backend.close).start()
    started = time.monotonic()
    with pytest.raises(ConnectionLost, match="was closed"):
        backend._call("hang", {})
    assert time.monotonic() - started < 5
