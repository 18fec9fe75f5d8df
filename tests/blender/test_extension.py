"""The extension as a user gets it: built into a zip with the extension tool, installed into Blender, and driven
through its operators against the real HTTP server (`promptface-backend serve` on loopback, temporary data dir),
and over SSH against a real OpenSSH sshd on loopback (addon/bench/loopback_sshd.py) that runs `serve --stdio`.

Blender as a module runs no timers, so the tests apply the worker's results with the add-on's own
`run_until()` / `run_until_idle()`, which block on the worker's event queue (never on sleeps).
"""
import importlib
import os
import platform
import re
import socket
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import bpy
import pytest
import requests

from addon.bench.loopback_sshd import SshdServer
from addon.build_extension import REPO_ROOT, BuildError, build_extension, run_extension_tool, staged_manifest
from addon.core.png import encode_png

EXTENSION = "bl_ext.user_default.promptface"
SERVER_START_TIMEOUT_S = 120
JOB_TIMEOUT_S = 90


def local_platform() -> str:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        return "linux-x64"
    if sys.platform == "darwin":
        return "macos-arm64" if machine == "arm64" else "macos-x64"
    if sys.platform == "win32":
        return "windows-x64"
    pytest.fail(f"no extension build for {sys.platform} {machine}")


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    """The extension zip for this platform (its wheels downloaded from PyPI through pip's cache)."""
    zips = build_extension(tmp_path_factory.mktemp("dist"), [local_platform()])
    assert len(zips) == 1
    return zips[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real HTTP server as a child process; yields (url, token)."""
    data_dir = tmp_path_factory.mktemp("server-data")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (data_dir.parent / "server.log").open("w")
    command = [str(Path(sys.executable).with_name("promptface-backend")), "serve", "--port", str(port),
               "--data-dir", str(data_dir), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, url, data_dir.parent / "server.log")
        yield url, (data_dir / "token").read_text().strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    """Ask /v1/health until it answers; the pause between tries is a wait on the server process's exit."""
    for _ in range(SERVER_START_TIMEOUT_S * 4):
        try:
            if requests.get(f"{url}/v1/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        try:
            process.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the server exited with status {process.returncode}:\n{log_path.read_text()[-3000:]}")
    pytest.fail(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    path.write_bytes(encode_png(data.astronaut()))
    return path


class Installed:
    """The installed extension's modules and preferences."""

    def __init__(self):
        self.session = importlib.import_module(f"{EXTENSION}.generation.session")
        self.http = importlib.import_module(f"{EXTENSION}.transports.http")
        self.prefs = bpy.context.preferences.addons[EXTENSION].preferences

    def use_server(self, url: str, token: str) -> None:
        self.prefs.backend, self.prefs.url, self.prefs.token = "HTTP", url, token
        self.prefs.poll_interval_s = 0.05

    def use_ssh(self, sshd: SshdServer, known_hosts: Path, data_dir: Path) -> None:
        """The SSH backend: sshd's user and key, the given known_hosts, the venv's stdio server on data_dir."""
        prefs = self.prefs
        prefs.backend, prefs.ssh_host, prefs.ssh_port, prefs.ssh_user = "SSH", sshd.host, sshd.port, sshd.user
        prefs.ssh_key_file, prefs.ssh_known_hosts = str(sshd.user_key), str(known_hosts)
        prefs.ssh_command = sshd.serve_command(data_dir)
        prefs.poll_interval_s = 0.05


@pytest.fixture
def extension(extension_zip):
    """Installed and enabled for one test (the per-test factory reset disables add-ons); uninstalled after."""
    assert bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    installed = Installed()
    yield installed
    installed.session.shutdown()
    repos = [repo.module for repo in bpy.context.preferences.extensions.repos]
    assert bpy.ops.extensions.package_uninstall(repo_index=repos.index("user_default"),
                                                pkg_id="promptface") == {"FINISHED"}
    assert EXTENSION not in bpy.context.preferences.addons
    assert not hasattr(bpy.types.Scene, "promptface") and not hasattr(bpy.types, "PROMPTFACE_OT_generate")
    assert not any(name == EXTENSION or name.startswith(EXTENSION + ".") for name in sys.modules)


def set_inputs(photo: Path, prompts: list[str]) -> None:
    state = bpy.context.scene.promptface
    state.photo_path = str(photo)
    for text in prompts:
        assert bpy.ops.promptface.prompt_add(text=text) == {"FINISHED"}


def generate_until_done(extension, photo: Path, prompts: list[str]):
    """Press Generate, pump the session until the job ends, and check it succeeded; returns (run, state)."""
    set_inputs(photo, prompts)
    assert bpy.ops.promptface.generate() == {"FINISHED"}
    assert bpy.context.scene.promptface.busy
    assert extension.session.run_until_idle(JOB_TIMEOUT_S), "the job did not finish in time"
    run = extension.session.last()
    state = bpy.context.scene.promptface
    assert run.outcome.status == "succeeded", run.outcome
    assert state.last_error == "" and state.progress == 1.0 and not state.busy
    return run, state


def assert_streamed(arrivals, names: list[str]) -> None:
    """Streaming: the face was built while the job still had expressions to make, and the expressions were added in
    the server's order, none twice. (How many arrive in one update depends on how fast the server edits against how
    long a download takes, so that is not checked.)"""
    first = arrivals[0]
    assert first.added[0] == "as_photographed" and first.pending
    assert [name for arrival in arrivals for name in arrival.added] == ["as_photographed", *names]
    for earlier, later in zip(arrivals, arrivals[1:], strict=False):
        assert set(later.pending) <= set(earlier.pending)


def test_the_zip_is_the_add_on_package_with_its_wheels(extension_zip):
    run_extension_tool("validate", str(extension_zip))
    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    # What Blender runs: the add-on, its operators, the panel, the transports, and render_frames.py (the Unity export
    # imports it; render farms run it with `blender -P`).
    for shipped in ("__init__.py", "operators/__init__.py", "operators/face.py", "operators/remote.py",
                    "ui/panel.py", "transports/http.py", "transports/local.py", "render_frames.py"):
        assert shipped in names, shipped
    # What only runs outside Blender: the `promptface` command, its benchmarks (with their sshd) and the build.
    assert not [name for name in names if name.startswith(("backend/", "tests/", "addon/", "bench/")) or
                name in ("cli.py", "animate.py", "build_extension.py") or name.endswith(".pyc")]
    wheels = manifest["build"]["generated"]["wheels"]
    assert any(Path(wheel).name.startswith("paramiko-") for wheel in wheels)
    assert all(wheel.removeprefix("./") in names for wheel in wheels)
    assert manifest["blender_version_min"] == "4.2.0" and manifest["build"]["generated"]["platforms"] == [
        local_platform()]
    # Wheels built for one CPython (cffi's) end the range at the first Blender with another Python: 5.1 has 3.13.
    pinned = {match[1] for wheel in wheels if (match := re.search(r"-(cp3\d+)-\1-", Path(wheel).name))}
    assert pinned == {"cp311"}
    assert manifest["blender_version_max"] == "5.1.0"
    for reason in manifest["permissions"].values():
        assert len(reason) <= 64 and not reason.endswith((".", "!"))


CFFI_CP311 = "./wheels/cffi-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
PARAMIKO = "./wheels/paramiko-3.5.1-py3-none-any.whl"
CRYPTOGRAPHY_ABI3 = "./wheels/cryptography-48.0.1-cp311-abi3-manylinux_2_28_x86_64.whl"


def manifest_with(version_max: str | None) -> str:
    """The repository's manifest with blender_version_max set to version_max, or without it."""
    text = (REPO_ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    text = re.sub(r"^blender_version_max = .*\n", "", text, flags=re.MULTILINE)
    assert "blender_version_max" not in tomllib.loads(text)
    return text.replace('blender_version_min = "4.2.0"\n', 'blender_version_min = "4.2.0"\n' +
                        (f'blender_version_max = "{version_max}"\n' if version_max else ""))


def test_a_wheel_for_one_python_needs_the_blender_version_max_where_that_python_ends():
    wheels = [CFFI_CP311, CRYPTOGRAPHY_ABI3, PARAMIKO]
    with pytest.raises(BuildError, match='the bundled wheels need blender_version_max = "5.1.0"'):
        staged_manifest(manifest_with(None), wheels, ["linux-x64"])
    with pytest.raises(BuildError, match='has blender_version_max = "5.0.0"'):
        staged_manifest(manifest_with("5.0.0"), wheels, ["linux-x64"])
    assert tomllib.loads(staged_manifest(manifest_with("5.1.0"), wheels, ["linux-x64"]))[
        "blender_version_max"] == "5.1.0"
    # abi3 and pure wheels run on every later Python: a maximum would shut out Blender releases they work in.
    with pytest.raises(BuildError, match="need no blender_version_max"):
        staged_manifest(manifest_with("5.1.0"), [CRYPTOGRAPHY_ABI3, PARAMIKO], ["linux-x64"])
    assert "blender_version_max" not in tomllib.loads(
        staged_manifest(manifest_with(None), [CRYPTOGRAPHY_ABI3, PARAMIKO], ["linux-x64"]))
    # A wheel for Blender 5.1's Python does not run on the minimum's (4.2, Python 3.11).
    with pytest.raises(BuildError, match="do not run on Blender 4.2.0's Python 3.11"):
        staged_manifest(manifest_with("5.1.0"), [CFFI_CP311.replace("cp311", "cp313")], ["linux-x64"])


def test_the_repository_manifest_agrees_with_the_wheels_it_is_built_with():
    text = (REPO_ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    assert tomllib.loads(staged_manifest(text, [CFFI_CP311, PARAMIKO], ["linux-x64"]))[
        "blender_version_max"] == "5.1.0"


def test_the_installed_extension_brings_its_own_paramiko(extension):
    site_packages = Path(os.environ["BLENDER_USER_RESOURCES"]) / "extensions" / ".local" / "lib"
    assert list(site_packages.glob("python3*/site-packages/paramiko/__init__.py"))
    assert extension.prefs.bl_rna.identifier and type(extension.prefs).bl_idname == EXTENSION


def test_every_shipped_module_imports_without_what_the_zip_leaves_out(extension, extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        files = [name for name in archive.namelist() if name.endswith(".py") and not name.startswith("wheels/")]
    modules = [name.removesuffix(".py").removesuffix("__init__").rstrip("/").replace("/", ".") for name in files]
    assert "operators" in modules and "transports.local" in modules
    for module in modules:
        importlib.import_module(f"{EXTENSION}.{module}".rstrip("."))


def test_connect_lists_the_servers_engines(extension, server):
    extension.use_server(*server)
    assert bpy.ops.promptface.connect() == {"FINISHED"}
    # In a Blender session this timer applies the results; here run_until_idle() does what it would do.
    assert bpy.app.timers.is_registered(extension.session._on_timer)
    assert extension.session.run_until_idle(30)
    assert extension.session._on_timer() is None  # nothing left to do: the timer unregisters itself
    state = bpy.context.scene.promptface
    assert state.last_error == "" and state.status_message.startswith("connected to http://127.0.0.1:")
    engines = extension.session.known_engines
    assert ("warp", True, "") in engines["editor"] and ("landmarks", True, "") in engines["reconstructor"]
    state.editor = "warp"  # the menu now offers what the server has


def test_generate_builds_the_face_as_expressions_arrive(extension, server, photo, tmp_path):
    extension.use_server(*server)
    run, state = generate_until_done(extension, photo, ["happy", "AU1:0.8 AU2:0.8 AU26:0.6"])
    with extension.http.HTTPBackend(*server) as backend:
        job = backend.job_status(state.job_id)
    names = [expression.name for expression in job.expressions]
    assert names[0] == "happy" and names[1].startswith("au1_")
    face = bpy.data.objects[run.face_name]
    assert [key.name for key in face.data.shape_keys.key_blocks] == ["Basis", "as_photographed", *names]
    assert_streamed(run.arrivals, names)
    blend_inputs = {socket.name for socket in face.active_material.node_tree.nodes["PromptFace Blend"].inputs}
    assert {f"{name} Weight" for name in names} <= blend_inputs

    state.schedule = f"neutral 0.3s, happy 0.5s, {names[1]} 0.5s, neutral"
    assert bpy.ops.promptface.apply_schedule(schedule=state.schedule, fps=state.fps) == {"FINISHED"}
    assert bpy.ops.promptface.export_fbx(filepath=str(tmp_path / "face.fbx")) == {"FINISHED"}
    assert (tmp_path / "face.fbx").stat().st_size > 10_000
    assert (tmp_path / "textures" / f"{names[1]}.texture.png").is_file()


def test_a_wrong_token_is_shown_and_builds_nothing(extension, server, photo):
    url, _ = server
    extension.use_server(url, "not-the-token")
    set_inputs(photo, ["happy"])
    assert bpy.ops.promptface.generate() == {"FINISHED"}
    assert extension.session.run_until_idle(30)
    state = bpy.context.scene.promptface
    assert extension.session.last().outcome.code == "unauthorized"
    assert "bearer token is wrong" in state.last_error and not state.busy
    assert not [obj for obj in bpy.data.objects if obj.name.startswith("PromptFace")]


def test_cancel_stops_the_job_on_the_server(extension, server, photo):
    extension.use_server(*server)
    set_inputs(photo, ["happy", "sad", "angry", "surprised", "AU4:0.9", "AU12:0.5"])
    assert bpy.ops.promptface.generate() == {"FINISHED"}
    session = extension.session
    assert session.run_until(lambda: any(arrival.added for arrival in session.last().arrivals), JOB_TIMEOUT_S)
    assert bpy.ops.promptface.cancel() == {"FINISHED"}
    assert session.run_until_idle(30)
    run = session.last()
    assert run.outcome.status == "cancelled", run.outcome
    with extension.http.HTTPBackend(*server) as backend:
        job = backend.job_status(bpy.context.scene.promptface.job_id)
    assert job.status == "cancelled"
    done = [expression.name for expression in job.expressions if expression.status == "done"]
    assert 1 <= len(done) < 6
    keys = [key.name for key in bpy.data.objects[run.face_name].data.shape_keys.key_blocks][2:]
    assert keys == done[:len(keys)]
    assert bpy.ops.promptface.generate.poll()  # ready for the next run


def test_a_missing_photo_is_refused_before_any_network_use(extension, server):
    extension.use_server(*server)
    set_inputs(Path("/nonexistent/photo.png"), ["happy"])
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.promptface.generate()
    assert extension.session.current() is None
    assert "does not exist" in bpy.context.scene.promptface.last_error


def test_the_local_backend_runs_as_a_child_process(extension, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTFACE_DATA", str(tmp_path / "local-data"))  # the child server's data dir
    extension.prefs.backend, extension.prefs.poll_interval_s = "LOCAL", 0.05
    set_inputs(photo, ["surprised"])
    assert bpy.ops.promptface.generate() == {"FINISHED"}
    assert extension.session.run_until_idle(JOB_TIMEOUT_S)
    run = extension.session.last()
    assert run.outcome.status == "succeeded", run.outcome
    keys = bpy.data.objects[run.face_name].data.shape_keys.key_blocks
    assert [key.name for key in keys] == ["Basis", "as_photographed", "surprised"]
    assert (tmp_path / "local-data" / "jobs" / bpy.context.scene.promptface.job_id).is_dir()


class RecordingLayout:
    """Stands in for UILayout (which only exists while Blender draws a region): checks that each property and
    operator the panel names exists, and records the labels."""

    def __init__(self, labels):
        self.labels = labels

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"

    def operator(self, idname, **kwargs):
        category, name = idname.split(".")
        assert getattr(getattr(bpy.ops, category), name).poll is not None
        operator_type = getattr(bpy.types, f"{category.upper()}_OT_{name}")
        return type("Properties", (), {name: None for name in operator_type.bl_rna.properties.keys()})()

    def label(self, text="", **kwargs):
        self.labels.append(text)

    def progress(self, text="", **kwargs):
        self.labels.append(text)

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **kwargs):
        assert hasattr(bpy.types, list_type) and name in data.bl_rna.properties
        assert active_name in active_data.bl_rna.properties

    def __getattr__(self, name):  # row(), column(), box(), separator(), enabled, alert, scale_y …
        return lambda *args, **kwargs: self


def test_the_panel_draws_the_state(extension):
    state = bpy.context.scene.promptface
    state.status_message, state.progress = "[1/2] happy: happy", 0.5
    state.last_error = "the bearer token is wrong; send 'Authorization: Bearer TOKEN' with the token in /srv/token"
    labels = []
    panel = bpy.types.PROMPTFACE_PT_main
    assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category) == ("VIEW_3D", "UI", "PromptFace")
    panel.draw(type("Panel", (), {"layout": RecordingLayout(labels)})(), bpy.context)
    assert "[1/2] happy: happy" in labels
    assert state.last_error in " ".join(labels)  # wrapped over several lines
    assert max(len(label) for label in labels) <= 60


def test_a_remote_server_needs_online_access(extension, photo):
    assert not bpy.app.online_access  # Blender as a module starts with online access off
    extension.use_server("http://gpu.example.org:8765", "token")
    set_inputs(photo, ["happy"])
    with pytest.raises(RuntimeError, match="Allow Online Access"):
        bpy.ops.promptface.generate()
    assert extension.session.current() is None
    assert "gpu.example.org" in bpy.context.scene.promptface.last_error


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with SshdServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def test_generate_over_ssh_builds_the_face_as_expressions_arrive(extension, sshd, photo, tmp_path):
    data_dir = tmp_path / "ssh-data"
    extension.use_ssh(sshd, sshd.known_hosts(tmp_path / "known_hosts"), data_dir)
    run, state = generate_until_done(extension, photo, ["happy", "AU26:0.6"])
    assert (data_dir / "jobs" / state.job_id).is_dir()  # the job ran on the server that sshd started
    names = ["happy", "au26_60"]
    face = bpy.data.objects[run.face_name]
    assert [key.name for key in face.data.shape_keys.key_blocks] == ["Basis", "as_photographed", *names]
    assert_streamed(run.arrivals, names)  # as over HTTP

    # Build Timeline on the face that came over SSH.
    timeline = importlib.import_module(f"{EXTENSION}.scene.timeline")
    assert bpy.context.view_layer.objects.active == face
    assert bpy.ops.promptface.apply_schedule(schedule="neutral 0.3s, happy 0.5s, au26_60 0.5s, neutral",
                                             fps=30) == {"FINISHED"}
    curves = timeline.shape_key_fcurves(face.data.shape_keys)
    assert sorted(curves) == sorted(["as_photographed", *names])
    assert all(max(point.co.y for point in curves[name].keyframe_points) == 1.0 for name in names)
    assert timeline.timeline_end_frame(face) == bpy.context.scene.frame_end > 30


def test_an_unknown_ssh_host_key_is_shown_with_how_to_trust_it(extension, sshd, photo, tmp_path):
    known_hosts, data_dir = tmp_path / "known_hosts", tmp_path / "ssh-data"
    known_hosts.write_text("")
    extension.use_ssh(sshd, known_hosts, data_dir)
    set_inputs(photo, ["happy"])
    assert bpy.ops.promptface.generate() == {"FINISHED"}
    assert extension.session.run_until_idle(30)

    state = bpy.context.scene.promptface
    assert extension.session.last().outcome.code == "host_key_unknown"
    assert not state.busy and state.status_message == "failed"
    assert sshd.host_key_fingerprint() in state.last_error and "never trusts" in state.last_error
    assert state.last_error.endswith(f"trust it with: ssh-keyscan -t ed25519 -p {sshd.port} 127.0.0.1 >> {known_hosts}")
    labels = []
    bpy.types.PROMPTFACE_PT_main.draw(type("Panel", (), {"layout": RecordingLayout(labels)})(), bpy.context)
    assert "Backend: SSH" in labels and state.last_error in " ".join(labels)  # the error box shows all of it
    assert known_hosts.read_text() == "" and not data_dir.exists()  # nothing trusted, nothing ran
    assert not [obj for obj in bpy.data.objects if obj.name.startswith("PromptFace")]
