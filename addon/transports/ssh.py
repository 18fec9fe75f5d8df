"""The SSH transport: `promptface-backend serve --stdio` on a remote machine, over one SSH connection.

An exec channel runs the remote command and carries the JSON lines (stdin/stdout; stderr is kept for error
messages); SFTP on the same connection copies the photo into the server's upload folder and copies results back.
When the remote command runs the backend on another machine (`srun …`), the backend's data dir must be on storage
that the SSH host also sees, since SFTP runs on the SSH host.

Host keys are checked against known_hosts and never added by this module: an unknown or changed key is refused
with a message that says how to check and trust it. Authentication is by key only (a key file, or the SSH agent and
the default keys in ~/.ssh). paramiko is imported only when a connection opens, so the rest of the add-on works
without it.
"""
import base64
import getpass
import hashlib
import posixpath
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import PromptFaceError
from .errors import BackendError
from .stdio_client import StderrTail, StdioBackend, StdioChannel

DEFAULT_SERVE_COMMAND = "promptface-backend serve --stdio"
COMMAND_PLACEHOLDER = "{command}"
KEEPALIVE_SECONDS = 15
CLOSE_WAIT_SECONDS = 3.0


@dataclass(frozen=True, kw_only=True)
class SSHSettings:
    host: str
    user: str
    port: int = 22
    key_file: str | None = None        # None: the SSH agent, then the default keys in ~/.ssh
    known_hosts: str = "~/.ssh/known_hosts"
    # What runs on the server. A template: "{command}" is replaced by serve_command, e.g.
    # "module load cuda && srun --gres=gpu:1 {command}"; without the placeholder it runs as written.
    remote_command: str = DEFAULT_SERVE_COMMAND
    serve_command: str = DEFAULT_SERVE_COMMAND
    timeout: float = 20.0              # seconds for the TCP connect, the SSH handshake and opening the channel

    def command(self) -> str:
        """The command line sent to the server."""
        if COMMAND_PLACEHOLDER in self.remote_command:
            return self.remote_command.replace(COMMAND_PLACEHOLDER, self.serve_command)
        return self.remote_command

    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts).expanduser()

    def host_key_name(self) -> str:
        """The host's name as known_hosts writes it."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


class SSHBackend(StdioBackend):
    """A backend over SSH from loose settings (the add-on preferences); it connects on the first call (or
    `connect()`). user None: the local user name; known_hosts None: ~/.ssh/known_hosts; command: the remote command
    template; timeout: seconds for connecting and for each reply."""

    def __init__(self, host: str, port: int = 22, user: str | None = None, key_file: str | None = None,
                 known_hosts: str | None = None, command: str = DEFAULT_SERVE_COMMAND, timeout: float = 20.0):
        settings = SSHSettings(host=host, port=port, user=user or getpass.getuser(), key_file=key_file,
                               known_hosts=known_hosts or SSHSettings.known_hosts, remote_command=command,
                               timeout=timeout)
        super().__init__(SSHChannel(settings), reply_timeout=timeout)


class SSHChannel(StdioChannel):
    """One paramiko SSHClient: an exec channel for the JSON lines, SFTP for the files."""

    def __init__(self, settings: SSHSettings):
        self.settings = settings
        self.description = f"the backend on ssh {settings.user}@{settings.host}:{settings.port}"
        self._client = None
        self._channel = None
        self._stdin = self._stdout = None
        self._stderr: StderrTail | None = None
        self._sftp = None

    def open(self) -> None:
        paramiko = _import_paramiko()
        client = self._connect(paramiko)
        try:
            transport = client.get_transport()
            transport.set_keepalive(KEEPALIVE_SECONDS)
            channel = transport.open_session(timeout=self.settings.timeout)
            channel.exec_command(self.settings.command())
        except (paramiko.SSHException, OSError, EOFError) as error:
            client.close()
            raise BackendError("unreachable", f"{self.description}: cannot run `{self.settings.command()}`: "
                                              f"{error}") from None
        self._client, self._channel = client, channel
        self._stdin = channel.makefile_stdin("wb")
        self._stdout = channel.makefile("rb")
        self._stderr = StderrTail(channel.makefile_stderr("rb"), "promptface-ssh-stderr")

    def _connect(self, paramiko):
        """A connected, authenticated SSHClient, or BackendError saying why not."""
        settings = self.settings
        known_hosts = settings.known_hosts_path()
        client = paramiko.SSHClient()
        if known_hosts.is_file():
            client.get_host_keys().load(str(known_hosts))  # loaded, never written back
        offered = []
        client.set_missing_host_key_policy(_refuse_unknown_keys(paramiko, offered))
        key_file = str(Path(settings.key_file).expanduser()) if settings.key_file else None
        try:
            client.connect(settings.host, port=settings.port, username=settings.user, key_filename=key_file,
                           allow_agent=key_file is None, look_for_keys=key_file is None,
                           timeout=settings.timeout, banner_timeout=settings.timeout,
                           auth_timeout=settings.timeout)
            return client
        except paramiko.BadHostKeyException as error:
            client.close()
            raise BackendError("host_key_changed", _changed_key_message(settings, error.key,
                                                                        error.expected_key)) from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise BackendError("unauthorized", f"the key file {key_file} is protected by a passphrase; load it "
                                               "into the SSH agent (ssh-add) and leave the key file empty") from None
        except paramiko.AuthenticationException as error:
            client.close()
            keys = f"the key {key_file}" if key_file else "the keys of the SSH agent and ~/.ssh"
            raise BackendError("unauthorized", f"{settings.host}:{settings.port} refused {keys} for user "
                                               f"'{settings.user}' ({error}); only key authentication is used: "
                                               "add the public key to the server's authorized_keys") from None
        except paramiko.SSHException as error:
            client.close()
            if offered:
                raise BackendError("host_key_unknown", _unknown_key_message(settings, offered[0])) from None
            raise BackendError("unreachable", f"SSH to {settings.host}:{settings.port} failed: {error}") from None
        except (OSError, EOFError) as error:  # refused, unresolvable, timed out (socket.timeout is an OSError)
            client.close()
            reason = "timed out" if isinstance(error, socket.timeout) else str(error) or type(error).__name__
            raise BackendError("unreachable",
                               f"cannot reach {settings.host}:{settings.port} over SSH: {reason}") from None

    def write_line(self, data: bytes) -> None:
        stdin = self._stdin
        if stdin is None:
            raise EOFError("the channel is closed")
        try:
            stdin.write(data)
            stdin.flush()
        except _paramiko_errors() as error:
            raise OSError(str(error)) from None

    def reader(self) -> Callable[[], bytes]:
        stdout = self._stdout
        if stdout is None:
            raise EOFError("the channel is closed")

        def read_line() -> bytes:
            try:
                return stdout.readline()
            except _paramiko_errors() as error:
                raise OSError(str(error)) from None
        return read_line

    def upload(self, local_path: Path, remote_dir: str) -> str:
        remote = posixpath.join(remote_dir, f"{uuid.uuid4().hex}{local_path.suffix.lower()}")
        try:
            self._open_sftp().put(str(local_path), remote)
        except _paramiko_errors() as error:
            raise OSError(str(error)) from None
        return remote

    def download(self, remote_path: str, local_path: Path) -> None:
        try:
            self._open_sftp().get(remote_path, str(local_path))
        except _paramiko_errors() as error:
            raise OSError(str(error)) from None

    def _open_sftp(self):
        if self._sftp is None:
            if self._client is None:
                raise EOFError("the channel is closed")
            self._sftp = self._client.open_sftp()
        return self._sftp

    def is_alive(self) -> bool:
        channel, client = self._channel, self._client
        return (channel is not None and not channel.exit_status_ready() and client is not None
                and client.get_transport() is not None and client.get_transport().is_active())

    def last_words(self) -> str:
        channel = self._channel
        if channel is None:
            return ""
        channel.status_event.wait(1.0)  # an exit status arrives just before the channel closes
        transport = self._client.get_transport() if self._client is not None else None
        if channel.exit_status != -1:
            status = f"the remote command exited with status {channel.exit_status}"
        elif transport is not None and transport.is_active():
            status = "the remote command ended without an exit status (killed by a signal?)"
        else:
            status = "the SSH connection closed"
        tail = self._stderr.text() if self._stderr else ""
        return status + (f"; its last output:\n{tail}" if tail else "")

    def close(self) -> None:
        client, channel, sftp = self._client, self._channel, self._sftp
        self._client = self._channel = self._sftp = self._stdin = self._stdout = None
        if channel is not None:
            try:
                channel.shutdown_write()  # EOF on the server's stdin: it ends its session cleanly
                channel.status_event.wait(CLOSE_WAIT_SECONDS)
            except _paramiko_errors():
                pass  # already gone
            channel.close()
        if sftp is not None:
            sftp.close()
        if client is not None:
            client.close()


def host_key_fingerprint(key) -> str:
    """OpenSSH's SHA256 fingerprint of a paramiko key ("SHA256:…", as `ssh-keygen -lf` prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _keyscan_command(settings: SSHSettings, key) -> str:
    key_type = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key.get_name(), "")
    if key.get_name().startswith("ecdsa-"):
        key_type = "ecdsa"
    type_option = f"-t {key_type} " if key_type else ""
    return f"ssh-keyscan {type_option}-p {settings.port} {settings.host} >> {settings.known_hosts_path()}"


def _unknown_key_message(settings: SSHSettings, key) -> str:
    known_hosts = settings.known_hosts_path()
    missing = "" if known_hosts.is_file() else " (that file does not exist yet)"
    return (f"refused {settings.host}:{settings.port}: its host key ({key.get_name()} "
            f"{host_key_fingerprint(key)}) is not in {known_hosts}{missing}, and PromptFace never trusts a new "
            "host key by itself. Check that fingerprint with the server's administrator (on the server: "
            "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then trust it with: "
            f"{_keyscan_command(settings, key)}")


def _changed_key_message(settings: SSHSettings, key, expected) -> str:
    known_hosts = settings.known_hosts_path()
    return (f"refused {settings.host}:{settings.port}: its host key ({key.get_name()} {host_key_fingerprint(key)}) "
            f"is NOT the one recorded for it in {known_hosts} ({expected.get_name()} "
            f"{host_key_fingerprint(expected)}). Someone may be intercepting the connection (man-in-the-middle), "
            "so nothing was sent. If the server was reinstalled or its keys were changed on purpose, confirm the "
            "new fingerprint with its administrator, remove the old entry with "
            f"`ssh-keygen -R '{settings.host_key_name()}' -f {known_hosts}`, then trust the new key with: "
            f"{_keyscan_command(settings, key)}")


def _refuse_unknown_keys(paramiko, offered: list):
    """paramiko's RejectPolicy that also keeps the key it refused, for the message."""

    class RefuseAndRemember(paramiko.RejectPolicy):
        def missing_host_key(self, client, hostname, key):
            offered.append(key)
            super().missing_host_key(client, hostname, key)

    return RefuseAndRemember()


def _import_paramiko():
    try:
        import paramiko
    except ImportError:
        raise PromptFaceError("the SSH transport needs paramiko, which is not installed here; install it with "
                              "`pip install 'paramiko>=3.4'` (or `pip install 'promptface[client]'`)") from None
    return paramiko


def _paramiko_errors() -> tuple:
    """The exceptions of a dropped or failing SSH channel (paramiko's own besides OSError and EOFError)."""
    import paramiko
    return (paramiko.SSHException, OSError, EOFError)
