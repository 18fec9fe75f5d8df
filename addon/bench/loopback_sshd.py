"""A real OpenSSH sshd on a free loopback port, for `promptface bench transports` and the SSH tests (tests/addon
and tests/blender import it).

It uses a throwaway host key and accepts one throwaway user key (both in the folder it is given), runs as the
current user with its own config, and logs to <root>/sshd.log. sshd must be installed: CI installs openssh-server
(.ci/run), so a missing sshd fails the tests that use it.

    with SshdServer(tmp_dir) as sshd:
        known_hosts = sshd.known_hosts(tmp_dir / "known_hosts")
        ... connect to sshd.host:sshd.port as sshd.user with sshd.user_key, run sshd.serve_command(data_dir)
"""
import getpass
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from ..core.errors import PromptFaceError

SSHD = Path("/usr/sbin/sshd")
BACKEND = Path(sys.executable).parent / "promptface-backend"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class SshdServer:
    """sshd on 127.0.0.1:<free port>. A context manager: started on enter, stopped (by its pid) on exit."""

    host = "127.0.0.1"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host_key, self.user_key = self.root / "host_ed25519", self.root / "user_ed25519"
        self.log_path = self.root / "sshd.log"
        self.user = getpass.getuser()
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None

    def known_hosts(self, path: Path, public_key: Path | None = None) -> Path:
        """Write a known_hosts file holding public_key (default: this server's real host key) for host:port."""
        key_type, key_data = (public_key or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        path.write_text(f"[{self.host}]:{self.port} {key_type} {key_data}\n")
        return path

    def host_key_fingerprint(self) -> str:
        """The host key's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
        output = subprocess.run(["ssh-keygen", "-lf", str(self.host_key.with_suffix(".pub"))], check=True,
                                capture_output=True, text=True).stdout
        return output.split()[1]

    @staticmethod
    def serve_command(data_dir: Path) -> str:
        """The remote command that runs this virtual environment's stdio server on data_dir (absolute: the SSH
        session's PATH does not have the venv)."""
        return f"{BACKEND} serve --stdio --data-dir {data_dir}"

    def __enter__(self) -> "SshdServer":
        if not SSHD.is_file():
            raise PromptFaceError(f"{SSHD} is missing: install openssh-server (apt-get install -y openssh-server)")
        self.root.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                           capture_output=True)
        authorized_keys = self.root / "authorized_keys"
        authorized_keys.write_text(self.user_key.with_suffix(".pub").read_text())
        self.port = _free_port()
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", f"ListenAddress {self.host}", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized_keys}", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            f"PidFile {self.root / 'sshd.pid'}", "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp", ""]))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd started by root wants its privilege-separation folder
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._copy_log, name="sshd-log", daemon=True)
        self._reader.start()
        # sshd says "Server listening on 127.0.0.1 port N." right after listen(); the reader also wakes this wait
        # when sshd's output ends (it exited).
        if not self._listening.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise PromptFaceError(f"sshd did not start listening on port {self.port} within {START_TIMEOUT_S} s "
                                  f"(exit status {self.process.returncode}):\n{self.log_path.read_text()}")
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        stop_process(process)

    def _copy_log(self) -> None:
        """Copy sshd's output into the log file (sessions it started may keep the pipe open after it stops, so
        this thread is a daemon and nothing waits for it)."""
        with open(self.log_path, "wb") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if line.startswith(b"Server listening on "):
                    self._listening.set()
        self._listening.set()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """Ask a child process to end; kill it when it does not within timeout seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
