"""`promptface bench transports`: the same job in the backend's own process, over HTTP and over SSH, and Generate in
Blender until the first expression is on the face. Every process started here is stopped by its pid, and every file
removed, also on Ctrl-C."""
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

from ..core.errors import PromptFaceError
from ..core.png import encode_png
from ..core.protocol import FINISHED_STATUSES, JobRequest
from ..transports.connect import BackendSettings
from ..transports.errors import BackendError
from ..transports.local import backend_command
from ..transports.ssh import DEFAULT_SERVE_COMMAND
from .loopback_sshd import SSHD, SshdServer, stop_process

TRANSPORT_POLL_S = 0.05     # status polls of the timed jobs: fine enough that polling hardly adds to a job
SERVER_START_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0       # a server finishes its current expression before it stops


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
    expression in the scene."""
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
            from ..transports.http import HTTPBackend
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
            from ..transports.ssh import SSHBackend
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
            stop_process(process, STOP_TIMEOUT_S)


def _wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    from ..transports.http import HTTPBackend

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
    used as given; otherwise a throwaway sshd on loopback (loopback_sshd.py, the SSH tests' own) runs this
    environment's backend with its own data dir, and the server it starts is waited for (and ended by its pid if it
    lingers) when the connection closes."""
    if ssh is not None:
        yield ssh, f"ssh {ssh.user or getpass.getuser()}@{ssh.host}:{ssh.port}, {ssh.remote_command}", lambda: None
        return
    folder.mkdir(parents=True)
    data_dir, pid_file = folder / "data", folder / "server.pid"
    # `exec` keeps the shell's pid ($$) for the server, so the pid file names the server itself.
    command = (f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.join(backend)} serve --stdio "
               f"--data-dir {shlex.quote(str(data_dir))}")
    with SshdServer(folder / "sshd") as sshd:
        target = SSHTarget(host=sshd.host, user=sshd.user, port=sshd.port, key_file=str(sshd.user_key),
                           known_hosts=str(sshd.known_hosts(folder / "known_hosts")), remote_command=command)
        yield (target, f"throwaway sshd on {sshd.host}:{sshd.port}, serve --stdio",
               lambda: _wait_for_remote_server(pid_file, data_dir))


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _time_generate_in_blender(url: str, token: str, photos: _PhotoVariants, prompts: list[str], runs: int,
                              cache_root: Path) -> tuple[float, float]:
    """Generate through the add-on's session against the HTTP server, the events applied as Blender's timer would
    apply them (run_until, since Blender as a module runs no timers). Medians of (Generate → the first expression's
    shape key on the face, Generate → the task over with every expression on the face)."""
    from .. import register, unregister
    from ..generation import session, worker
    from ..scene.face_object import expression_keys

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
