"""Fetching a job's file over JSON lines while the job ends: its set moves from partial/ to result/, so the path the
server named may be gone by the time it is copied. A scripted server names a path that is gone first, then the file
where it is now."""
import sys
import textwrap

import pytest

from addon.core.protocol import API_VERSION
from addon.transports.errors import BackendError
from addon.transports.stdio_client import LocalStdioChannel, StdioBackend

# asset_path answers with the paths given on the command line, one per request, in order.
MOVING_SERVER = textwrap.dedent("""
    import json, sys
    answers = sys.argv[2:]
    print(json.dumps({"event": "hello", "api_version": int(sys.argv[1]), "upload_dir": "/nowhere", "version": "t"}),
          flush=True)
    for asked, line in enumerate(sys.stdin):
        request = json.loads(line)
        path = answers[min(asked, len(answers) - 1)]
        print(json.dumps({"id": request["id"], "result": {"path": path, "asked": asked + 1}}), flush=True)
""")


def _backend(tmp_path, *answers) -> StdioBackend:
    script = tmp_path / "moving_server.py"
    script.write_text(MOVING_SERVER)
    return StdioBackend(LocalStdioChannel(command=[sys.executable, str(script), str(API_VERSION),
                                                   *map(str, answers)]))


def test_a_file_that_moved_while_it_was_fetched_is_looked_up_again(tmp_path):
    moved = tmp_path / "result" / "happy.vertices.npy"
    moved.parent.mkdir()
    moved.write_bytes(b"the vertices")
    backend = _backend(tmp_path, tmp_path / "partial" / "happy.vertices.npy", moved)
    try:
        fetched = backend.fetch_asset("j1", "happy.vertices.npy", tmp_path / "out" / "happy.vertices.npy")
        assert fetched.read_bytes() == b"the vertices"
    finally:
        backend.close()


def test_a_file_gone_twice_is_not_found(tmp_path):
    backend = _backend(tmp_path, tmp_path / "partial" / "x.png", tmp_path / "result" / "x.png")
    try:
        with pytest.raises(BackendError) as gone:
            backend.fetch_asset("j1", "x.png", tmp_path / "out" / "x.png")
        assert gone.value.code == "not_found" and "ask for the job's files again" in str(gone.value)
        assert not (tmp_path / "out" / "x.png").exists()
    finally:
        backend.close()
