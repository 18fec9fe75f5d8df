"""`promptface-backend` as a user runs it: a real subprocess, real output on disk."""
import json
import os
import subprocess
import sys

import pytest

from addon.core.expression_set import read_expression_set
from addon.transports.stdio_client import LocalBackend


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def test_generate_on_the_sample_writes_a_set_and_a_json_summary(tmp_path):
    out = tmp_path / "set"
    result = run_cli("generate", "--sample", "astronaut", "happy", "AU26:0.8 AU1:0.5", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [e["name"] for e in summary["expressions"]] == ["neutral", "as_photographed", "happy", "au26_80_au1_50"]
    assert read_expression_set(out).names() == ["neutral", "as_photographed", "happy", "au26_80_au1_50"]
    # The self-check: what the recogniser read, per expression (the photo as taken smiles).
    reads_as = {e["name"]: e["reads_as"] for e in summary["expressions"]}
    assert all(abs(sum(reading.values()) - 1.0) < 1e-4 for reading in reads_as.values())
    assert max(reads_as["as_photographed"], key=reads_as["as_photographed"].get) == "happy"


def test_generate_from_a_photo_file_shows_progress_and_a_table(tmp_path, astronaut_png):
    photo = tmp_path / "me.png"
    photo.write_bytes(astronaut_png)
    result = run_cli("generate", str(photo), "sad", "--out", str(tmp_path / "set"))
    assert result.returncode == 0, result.stderr
    assert "[1/1] sad" in result.stderr and "100%" in result.stderr
    assert "sad" in result.stdout and "identity" in result.stdout
    assert (tmp_path / "set" / "subject.png").read_bytes() == astronaut_png


@pytest.mark.parametrize("args, message", [
    (["generate", "missing.jpg", "happy", "--out", "x"], "does not exist"),
    (["generate", "--sample", "astronaut", "", "--out", "x"], "empty prompt"),
    # The default model is a Hub id; with nothing in the local cache it is named, never downloaded.
    (["generate", "--sample", "astronaut", "happy", "--editor", "diffedit", "--out", "x"], "without downloading"),
    (["generate", "--sample", "astronaut", "happy", "--lora", "x.safetensors", "--out", "x"], "need --editor diffedit"),
    (["generate", "--sample", "astronaut", "happy", "--editor", "diffedit", "--diffedit-option", "steps=many",
      "--out", "x"], "steps='many': expected a int"),
    (["generate", "--sample", "astronaut", "happy", "--skin-tone-strength", "2", "--out", "x"], "outside 0..1"),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, tmp_path_factory, args, message):
    empty_hub_cache = {**os.environ, "HF_HOME": str(tmp_path_factory.mktemp("hf")), "HF_HUB_OFFLINE": "1"}
    result = run_cli(*args, cwd=tmp_path, env=empty_hub_cache)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_photo_is_named_in_the_error(tmp_path):
    photo = tmp_path / "broken.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    result = run_cli("generate", str(photo), "happy", "--out", str(tmp_path / "set"))
    assert result.returncode == 2 and "broken.jpg" in result.stderr
    assert not (tmp_path / "set").exists()


def test_bench_job_prints_one_json_line_for_the_transports_benchmark():
    result = run_cli("bench", "job", "--runs", "1", "--prompts", "happy", "--json")
    assert result.returncode == 0, result.stderr
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["prompts"] == ["happy"] and numbers["runs"] == 1 and len(numbers["job_runs_s"]) == 1
    assert 0 < numbers["first_expression_s"] <= numbers["job_s"]
    assert "text_model" not in numbers["load_s"]  # no free text, no sentence model


def test_sample_writes_the_photo_generate_uses(tmp_path):
    result = run_cli("sample", "astronaut", "--out", str(tmp_path / "astronaut.png"))
    assert result.returncode == 0, result.stderr
    generated = run_cli("generate", "--sample", "astronaut", "happy", "--out", str(tmp_path / "set"), "--quiet")
    assert generated.returncode == 0, generated.stderr
    assert (tmp_path / "set" / "subject.png").read_bytes() == (tmp_path / "astronaut.png").read_bytes()
    refused = run_cli("sample", "nobody", "--out", str(tmp_path / "nobody.png"))
    assert refused.returncode == 2 and refused.stderr.startswith("error: unknown sample 'nobody'")
    assert not (tmp_path / "nobody.png").exists()


@pytest.mark.parametrize("flags, configured, reason", [
    # Every engine configured where it runs: the model the variable names is tried, and named when it is missing.
    ([], True, "no-model is missing"),
    # One session's engines (what `promptface animate` asks for): warp alone leaves the configured model alone ...
    (["--editor", "warp"], True, "the diffedit editor is not loaded here"),
    # ... and diffedit is loaded as generate loads it, from the default model when none is configured.
    (["--editor", "diffedit"], False, "could not be loaded without downloading"),
])
@pytest.mark.slow
def test_serve_loads_the_configured_engines_or_the_sessions_own(tmp_path, astronaut_png, monkeypatch, flags,
                                                                configured, reason):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hub cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if configured:
        monkeypatch.setenv("PROMPTFACE_DIFFEDIT_MODEL", str(tmp_path / "no-model"))
    else:
        monkeypatch.delenv("PROMPTFACE_DIFFEDIT_MODEL", raising=False)
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(astronaut_png)
    command = [sys.executable, "-m", "backend.cli", "serve", "--stdio", "--data-dir", str(tmp_path / "data"), *flags]
    with LocalBackend(command=command) as backend:
        backend.create_subject(photo)  # calibrated by the worker, after it loaded the engines
        engines = {engine.name: engine for engine in backend.engines().engines}
    assert engines["warp"].available and engines["landmarks"].available
    assert not engines["diffedit"].available and reason in engines["diffedit"].reason
