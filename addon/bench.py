"""`promptface bench`: client-side benchmarks. They print times and ratios against a baseline measured in the
same run; they never pass or fail.

- scene:   building a face with 10 expressions, foreach_set against a per-vertex Python loop (5k and 60k vertices)
- disk:    bytes for a 4-expression timeline, ours (expression set + .blend + .fbx) against the thesis' way
           (10 in-between OBJ + 1024² PNG per transition)
- animate: `promptface animate` on the sample with 3 prompts, split into pipeline, scene, export and preview
- transports: the same 3-prompt job in the backend's own process (`promptface-backend bench job`), over HTTP and
           over SSH; and, in Blender, the time from Generate until the first expression is on the face
"""
# Annotations stay strings: a typing generic over a class of this module (Iterator[tuple[SSHTarget, ...]]) built at
# import is kept by typing's cache with this module, and so bpy, alive through interpreter exit, where bpy 4.5 hangs.
from __future__ import annotations

import getpass
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import bpy
import numpy as np

from .core.coordinates import expression_set_to_blender
from .core.errors import PromptFaceError
from .core.expression_set import ExpressionData, read_expression_set, write_expression_set
from .core.obj_mesh import Mesh, write_obj
from .core.png import encode_png, read_png
from .core.protocol import FINISHED_STATUSES, JobRequest
from .scene.face_object import build_face_object
from .transports.connect import BackendSettings
from .transports.errors import BackendError
from .transports.local import backend_command
from .transports.ssh import DEFAULT_SERVE_COMMAND

THESIS_INBETWEENS = 10
THESIS_TEXTURE_PX = 1024


def bench_scene(vertex_counts=(5_000, 60_000), expressions: int = 10) -> None:
    print(f"scene build, {expressions} expressions: foreach_set (ours) against a per-vertex loop")
    for count in vertex_counts:
        with tempfile.TemporaryDirectory() as folder:
            expression_set = _grid_set(Path(folder) / "set", count, expressions)
            bpy.ops.wm.read_factory_settings(use_empty=True)
            start = time.perf_counter()
            build_face_object(expression_set)
            ours = time.perf_counter() - start
            bpy.ops.wm.read_factory_settings(use_empty=True)
            start = time.perf_counter()
            _build_with_loops(expression_set)
            loops = time.perf_counter() - start
        print(f"  {count:>6} vertices: ours {ours:7.3f} s, per-vertex loop {loops:7.3f} s "
              f"-> ours is {loops / ours:.1f}x faster")


def _grid_set(path: Path, vertex_count: int, expression_count: int):
    side = int(np.ceil(np.sqrt(vertex_count)))
    xs, ys = np.meshgrid(np.linspace(-0.07, 0.07, side), np.linspace(-0.08, 0.08, side))
    vertices = np.column_stack([xs.ravel(), ys.ravel(), np.zeros(side * side)]).astype(np.float32)
    index = np.arange(side * side).reshape(side, side)
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, 1:].ravel()
    faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([c, b, d])]).astype(np.int32)
    uvs = ((vertices[:, :2] - vertices[:, :2].min(axis=0)) / np.ptp(vertices[:, :2], axis=0)).astype(np.float32)
    texture = np.zeros((8, 8, 3), np.uint8)
    rng = np.random.default_rng(0)
    expressions = [ExpressionData("neutral", "neutral", "neutral", vertices, texture, texture[..., 0], texture)]
    for k in range(expression_count):
        moved = vertices + rng.normal(0, 0.001, vertices.shape).astype(np.float32)
        expressions.append(ExpressionData(f"e{k}", f"e{k}", f"e{k}", moved, texture, texture[..., 0], texture))
    write_expression_set(path, subject={"size": [8, 8], "face_box": [0, 0, 8, 8]}, subject_photo=("s.png", b"x"),
                         engines={}, base_mesh=Mesh(vertices, faces, uvs, faces.copy()), base_texture=texture,
                         expressions=expressions)
    return read_expression_set(path)


def _build_with_loops(expression_set):
    """The baseline: the same face built with Blender's convenient per-element Python API."""
    source = expression_set.base_mesh
    mesh = bpy.data.meshes.new("loops")
    mesh.from_pydata([tuple(v) for v in expression_set_to_blender(source.vertices)], [],
                     [tuple(f) for f in source.faces])
    uv_layer = mesh.uv_layers.new(name="UVMap")
    for corner, uv_index in enumerate(np.asarray(source.face_uvs).ravel()):
        uv_layer.data[corner].uv = source.uvs[uv_index]
    face = bpy.data.objects.new("loops", mesh)
    bpy.context.scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for expression in expression_set.expressions[1:]:
        key = face.shape_key_add(name=expression.name, from_mix=False)
        for point, co in zip(key.data, expression_set_to_blender(expression.vertices)):
            point.co = co
    return face


def bench_disk(shot: Path) -> None:
    """Compare an animate output folder with what the thesis' workflow would write for the same timeline."""
    expression_set = read_expression_set(shot / "expressions")
    ours = {name: _folder_bytes(shot / name) for name in ("expressions", "face.blend", "face.fbx", "textures")}
    transitions = len(expression_set.expressions)  # neutral → e1 → … → eN → neutral
    with tempfile.TemporaryDirectory() as folder:
        one = _thesis_transition_bytes(expression_set, Path(folder))
    thesis = one * transitions
    total = sum(ours.values())
    print(f"bytes on disk for a {len(expression_set.expressions) - 1}-expression timeline ({shot})")
    for name, size in ours.items():
        print(f"  ours {name:<12} {size / 1e6:8.2f} MB")
    print(f"  ours total        {total / 1e6:8.2f} MB")
    print(f"  thesis            {thesis / 1e6:8.2f} MB  ({transitions} transitions x {THESIS_INBETWEENS} OBJ + "
          f"{THESIS_TEXTURE_PX}² PNG, one transition written and measured: {one / 1e6:.2f} MB)")
    print(f"  -> ours is {thesis / total:.1f}x smaller")


def _thesis_transition_bytes(expression_set, folder: Path) -> int:
    """Write one transition the thesis' way (neutral → first expression) and count its bytes."""
    base = expression_set.base_mesh
    target = expression_set.expressions[1]
    start_texture = read_png(expression_set.base_texture_path).astype(np.float32)
    end_texture = read_png(target.texture_path).astype(np.float32)
    repeat = THESIS_TEXTURE_PX // start_texture.shape[0]
    for step in range(1, THESIS_INBETWEENS + 1):
        t = step / (THESIS_INBETWEENS + 1)
        vertices = (1 - t) * base.vertices + t * target.vertices
        write_obj(folder / f"frame_{step:02d}.obj", Mesh(vertices, base.faces, base.uvs, base.face_uvs))
        texture = np.rint((1 - t) * start_texture + t * end_texture).astype(np.uint8)
        # Nearest-neighbour upsampling and maximum compression: the baseline at its smallest, in its favour.
        texture = texture.repeat(repeat, axis=0).repeat(repeat, axis=1)
        (folder / f"frame_{step:02d}.png").write_bytes(encode_png(texture, level=9))
    return _folder_bytes(folder)


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_animate(out: Path) -> Path:
    from .animate import AnimateRequest, animate

    request = AnimateRequest(prompts=["happy", "a delighted surprise", "70% happy + 30% surprised"], out_dir=out,
                             sample="astronaut", overwrite=True)
    start = time.perf_counter()
    result = animate(request)
    total = time.perf_counter() - start
    print("promptface animate on the sample, 3 prompts, default preview (256², 16 samples, 10 fps)")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<9} {seconds:7.2f} s  ({seconds / total:5.1%})")
    print(f"  total     {total:7.2f} s")
    return out


# ---------------------------------------------------------------------------------------------------------------
# transports

TRANSPORT_POLL_S = 0.05     # status polls of the timed jobs: fine enough that polling hardly adds to a job
SERVER_START_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0       # a server finishes its current expression before it stops
SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class SSHTarget:
    """Where `bench transports` runs its SSH jobs; without one, a throwaway sshd on loopback is started."""
    host: str
    user: str | None = None
    port: int = 22
    key_file: str | None = None
    known_hosts: str | None = None
    remote_command: str = DEFAULT_SERVE_COMMAND


@dataclass(frozen=True)
class TransportTimes:
    ready_s: float
    """From starting (the server, or the SSH connection) until a warm-up job had run."""
    job_s: float
    """Median of the timed jobs: photo uploaded and calibrated, the expressions made, the set fetched as a zip."""


def bench_transports(runs: int = 3, ssh: SSHTarget | None = None) -> None:
    """Print the in-process job, the same job over HTTP and SSH with their ratios, and Generate's time to the first
    expression in the scene. Every process started here is stopped by its pid, and every file removed, also on
    Ctrl-C."""
    # 1. Check what can be checked before any work.
    if runs < 1:
        raise PromptFaceError(f"--runs must be at least 1, not {runs}")
    backend = backend_command()
    if ssh is None and not SSHD.is_file():
        raise PromptFaceError(f"{SSHD} is missing, so no loopback SSH server can be started for the benchmark: "
                              "install openssh-server, or pass --ssh-host (and --ssh-user, --ssh-key, --known-hosts)")
    work = Path(tempfile.mkdtemp(prefix="promptface-bench-transports-"))
    try:
        photos = _PhotoVariants(work / "photos")
        # 2. The baseline: the job inside the backend's own process.
        baseline = _in_process_job(backend, photos.next(), runs)
        prompts = baseline["prompts"]
        print(f"the same job everywhere: a new photo (calibration), {len(prompts)} prompts "
              f"({', '.join(map(repr, prompts))}), the set written; medians of {runs} runs after one warm-up")
        print(f"  in-process  load {sum(baseline['load_s'].values()):6.2f} s once      "
              f"job {baseline['job_s']:6.3f} s   first expression {baseline['first_expression_s']:6.3f} s")
        # 3. HTTP, then Generate in Blender against the same server.
        with _http_server(backend, work / "http") as (url, token, started):
            from .transports.http import HTTPBackend
            with HTTPBackend(url, token, timeout=JOB_TIMEOUT_S) as client:
                http = _time_jobs(client, photos, prompts, runs, work / "http-sets", started)
            _print_transport("HTTP", http, baseline, f"{url}, polled every {TRANSPORT_POLL_S} s")
            first_s, all_s = _time_generate_in_blender(url, token, photos, prompts, runs, work / "blender-jobs")
        print(f"  Generate in Blender over HTTP (the add-on's session, polled every "
              f"{BackendSettings().poll_interval_s} s):")
        print(f"    first expression on the face {first_s:6.3f} s  = {first_s / baseline['first_expression_s']:5.2f}x "
              f"in-process first expression")
        print(f"    all {len(prompts)} on the face           {all_s:6.3f} s  = {all_s / baseline['job_s']:5.2f}x "
              f"in-process job")
        # 4. SSH.
        with _ssh_target(ssh, backend, work / "ssh") as (target, description, after_close):
            from .transports.ssh import SSHBackend
            try:
                started = time.perf_counter()
                with SSHBackend(host=target.host, port=target.port, user=target.user, key_file=target.key_file,
                                known_hosts=target.known_hosts, command=target.remote_command,
                                timeout=JOB_TIMEOUT_S) as client:
                    client.connect()
                    ssh_times = _time_jobs(client, photos, prompts, runs, work / "ssh-sets", started)
            finally:
                after_close()
        _print_transport("SSH", ssh_times, baseline, description)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_transport(name: str, times: TransportTimes, baseline: dict, description: str) -> None:
    ratio = times.job_s / baseline["job_s"]
    print(f"  {name:<5}       ready {times.ready_s:6.2f} s once      job {times.job_s:6.3f} s   "
          f"= {ratio:5.2f}x in-process, {times.job_s - baseline['job_s']:+.3f} s per job   ({description})")


class _PhotoVariants:
    """The sample photo, one corner pixel changed per variant: each is a new subject to a server (which keeps
    subjects by their bytes), so every timed job includes its calibration, as the in-process job does."""

    def __init__(self, folder: Path):
        from skimage import data
        self.folder, self.count, self.image = folder, 0, data.astronaut()
        folder.mkdir(parents=True)

    def next(self) -> Path:
        image = self.image.copy()
        image[0, 0] = (self.count % 256, self.count // 256 % 256, 255)
        path = self.folder / f"astronaut-{self.count}.png"
        path.write_bytes(encode_png(image))
        self.count += 1
        return path


def _in_process_job(backend: list[str], photo: Path, runs: int) -> dict:
    command = [*backend, "bench", "job", "--photo", str(photo), "--runs", str(runs), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=JOB_TIMEOUT_S * (runs + 1),
                            start_new_session=True)
    if result.returncode != 0:
        raise PromptFaceError(f"`{shlex.join(command)}` failed (status {result.returncode}):\n"
                              f"{result.stderr[-2000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise PromptFaceError(f"`{shlex.join(command)}` printed no JSON line:\n{result.stdout[-2000:]}")
    return json.loads(lines[-1])


def _time_jobs(client, photos: _PhotoVariants, prompts: list[str], runs: int, folder: Path,
               started: float) -> TransportTimes:
    """One warm-up job (the end of `ready`), then `runs` timed ones."""
    _run_job(client, photos.next(), prompts, folder / "warm-up.zip")
    ready_s = time.perf_counter() - started
    times = []
    for run in range(runs):
        start = time.perf_counter()
        _run_job(client, photos.next(), prompts, folder / f"set-{run}.zip")
        times.append(time.perf_counter() - start)
    return TransportTimes(ready_s=ready_s, job_s=statistics.median(times))


def _run_job(client, photo: Path, prompts: list[str], dest_zip: Path) -> None:
    """create_subject → create_job → poll → fetch the zip, as a client script would."""
    subject = client.create_subject(photo)
    job = client.create_job(JobRequest(subject_id=subject.subject_id, prompts=list(prompts)))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while job.status not in FINISHED_STATUSES:
        if time.monotonic() > deadline:
            raise PromptFaceError(f"job {job.job_id} did not finish within {JOB_TIMEOUT_S:.0f} s: {job.message}")
        time.sleep(TRANSPORT_POLL_S)
        job = client.job_status(job.job_id)
    if job.status != "succeeded":
        raise PromptFaceError(f"job {job.job_id} {job.status}: {job.error or job.message}")
    client.fetch_set(job.job_id, dest_zip)


@contextmanager
def _http_server(backend: list[str], folder: Path) -> Iterator[tuple[str, str, float]]:
    """`promptface-backend serve` on a free loopback port with its own data dir; yields (url, token, the
    perf_counter() of its start) once its engines are loaded."""
    folder.mkdir(parents=True)
    data_dir, log_path = folder / "data", folder / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log_path.open("w") as log:
        # A session of its own: Ctrl-C reaches this process only, which then stops the server itself.
        process = subprocess.Popen([*backend, "serve", "--port", str(port), "--data-dir", str(data_dir),
                                    "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            _wait_until_healthy(process, url, log_path)
            yield url, (data_dir / "token").read_text().strip(), started
        finally:
            _stop(process)


def _wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    from .transports.http import HTTPBackend

    start = time.monotonic()
    with HTTPBackend(url, "health-needs-no-token", timeout=2.0) as probe:
        while True:
            try:
                status = probe.health().status
            except BackendError as error:
                if error.code not in ("unreachable", "timeout"):
                    raise
                status = "starting"
            if status == "ok":
                return
            if status == "error" or time.monotonic() - start > SERVER_START_TIMEOUT_S:
                raise PromptFaceError(f"the server at {url} is {status} after {time.monotonic() - start:.0f} s:\n"
                                      f"{log_path.read_text()[-3000:]}")
            try:  # the pause between tries is a wait on the server's exit
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise PromptFaceError(f"the server exited with status {process.returncode}:\n"
                                  f"{log_path.read_text()[-3000:]}")


@contextmanager
def _ssh_target(ssh: SSHTarget | None, backend: list[str], folder: Path
                ) -> Iterator[tuple[SSHTarget, str, Callable[[], None]]]:
    """(where to connect, a description, what to call once the connection is closed). The user's own host is
    used as given; otherwise a throwaway sshd on loopback runs this environment's backend with its own data dir,
    and the server it starts is waited for (and ended by its pid if it lingers) when the connection closes."""
    if ssh is not None:
        yield ssh, f"ssh {ssh.user or getpass.getuser()}@{ssh.host}:{ssh.port}, {ssh.remote_command}", lambda: None
        return
    folder.mkdir(parents=True)
    data_dir, pid_file = folder / "data", folder / "server.pid"
    # `exec` keeps the shell's pid ($$) for the server, so the pid file names the server itself.
    command = (f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.join(backend)} serve --stdio "
               f"--data-dir {shlex.quote(str(data_dir))}")
    with _loopback_sshd(folder / "sshd") as (port, key_file, known_hosts):
        target = SSHTarget(host="127.0.0.1", user=getpass.getuser(), port=port, key_file=str(key_file),
                           known_hosts=str(known_hosts), remote_command=command)
        yield (target, f"throwaway sshd on 127.0.0.1:{port}, serve --stdio",
               lambda: _wait_for_remote_server(pid_file, data_dir))


@contextmanager
def _loopback_sshd(folder: Path) -> Iterator[tuple[int, Path, Path]]:
    """OpenSSH's sshd on a free loopback port with a throwaway host key that accepts one throwaway user key;
    yields (port, the user's private key, a known_hosts file holding the host key)."""
    folder.mkdir(parents=True)
    host_key, user_key = folder / "host_ed25519", folder / "user_ed25519"
    for key in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                       capture_output=True)
    (folder / "authorized_keys").write_text(user_key.with_suffix(".pub").read_text())
    port = _free_port()
    key_type, key_data = host_key.with_suffix(".pub").read_text().split()[:2]
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
        f"PidFile {folder / 'sshd.pid'}", "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", ""]))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd started by root wants its privilege-separation folder
    log_path = folder / "sshd.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 10.0
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise PromptFaceError(f"sshd did not start on 127.0.0.1:{port}:\n{log_path.read_text()}")
                time.sleep(0.05)
            yield port, user_key, known_hosts
        finally:
            _stop(process)


def _wait_for_remote_server(pid_file: Path, data_dir: Path) -> None:
    """The server of a closed SSH session stops after its current expression (EOF on its stdin): wait for it,
    then end it by its pid if it is still there."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return  # the remote command never ran
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _is_server(pid, data_dir):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def _is_server(pid: int, data_dir: Path) -> bool:
    """Whether pid is still the server for data_dir (and not a process that got its number since)."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(data_dir).encode() in command_line.split(b"\0")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _time_generate_in_blender(url: str, token: str, photos: _PhotoVariants, prompts: list[str], runs: int,
                              cache_root: Path) -> tuple[float, float]:
    """Generate through the add-on's session against the HTTP server, the events applied as Blender's timer would
    apply them (run_until, since Blender as a module runs no timers). Medians of (Generate → the first expression's
    shape key on the face, Generate → the task over with every expression on the face)."""
    from . import register, unregister
    from .generation import session, worker
    from .scene.face_object import expression_keys

    def first_expression_on_face() -> bool:
        run = session.last()
        face = bpy.data.objects.get(run.face_name) if run and run.face_name else None
        return face is not None and bool(expression_keys(face))

    settings = BackendSettings(kind="HTTP", url=url, token=token)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    register()
    try:
        firsts, ends = [], []
        for _ in range(runs):
            # What the Generate operator does once it has checked the panel's fields.
            request = worker.GenerateRequest(photo=photos.next(), prompts=list(prompts), editor=settings.editor,
                                             reconstructor=settings.reconstructor, cache_root=cache_root,
                                             poll_interval_s=settings.poll_interval_s)
            start = time.perf_counter()
            session.start_generate(settings, request, bpy.context.scene)
            reached = session.run_until(first_expression_on_face, JOB_TIMEOUT_S)
            firsts.append(time.perf_counter() - start)
            session.run_until_idle(JOB_TIMEOUT_S)
            ends.append(time.perf_counter() - start)
            outcome = session.last().outcome
            if not reached or getattr(outcome, "status", None) != "succeeded":
                raise PromptFaceError(f"Generate in Blender did not succeed: {outcome or 'still running'}")
    finally:
        unregister()  # cancels a task still running
    return statistics.median(firsts), statistics.median(ends)
