"""Open the backend the user chose (local child process, HTTP server, or SSH), from plain settings.

Pure (no bpy): the add-on's preferences are copied into a BackendSettings on Blender's main thread, and the
worker thread opens the backend from that copy. Each transport module is imported only when it is chosen.
"""
from dataclasses import dataclass

from ..core.errors import PromptFaceError
from .online_access import check_online_access

BACKEND_KINDS = ("LOCAL", "HTTP", "SSH")


@dataclass(frozen=True)
class BackendSettings:
    kind: str = "LOCAL"
    """One of BACKEND_KINDS."""
    url: str = "http://127.0.0.1:8765"
    token: str = ""
    ssh_host: str = ""
    ssh_port: int = 22
    ssh_user: str = ""
    ssh_key_file: str = ""
    """Private key file; empty: the SSH agent and the default keys."""
    ssh_known_hosts: str = ""
    """known_hosts file to verify the host key against; empty: ~/.ssh/known_hosts."""
    ssh_command: str = "promptface-backend serve --stdio"
    """Remote command; a template where "{command}" stands for `promptface-backend serve --stdio`
    (e.g. "module load cuda && srun --gres=gpu:1 {command}")."""
    editor: str = "warp"
    reconstructor: str = "landmarks"
    timeout_s: float = 30.0
    """Connecting, and each wait for a reply."""
    poll_interval_s: float = 0.5
    """How often a running job's status is asked for."""

    def address(self) -> str:
        """Where the backend is, as a URL (for messages and the online-access check)."""
        if self.kind == "HTTP":
            return self.url
        if self.kind == "SSH":
            user = f"{self.ssh_user}@" if self.ssh_user else ""
            host = f"[{self.ssh_host}]" if ":" in self.ssh_host else self.ssh_host
            return f"ssh://{user}{host}:{self.ssh_port}"
        return "local child process"


def check_settings(settings: BackendSettings, online_access: bool, overridden: bool = False) -> None:
    """Everything that can be checked before connecting: kind, address, online access."""
    if settings.kind not in BACKEND_KINDS:
        raise PromptFaceError(f"unknown backend kind {settings.kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
    if settings.kind == "HTTP":
        if not settings.token.strip():
            raise PromptFaceError("the HTTP backend needs its token: copy it from the server's data folder (file "
                                  "'token') into the add-on preferences")
        check_online_access(settings.url, online_access, overridden)
    elif settings.kind == "SSH":
        if not settings.ssh_host.strip():
            raise PromptFaceError("set the SSH host in the add-on preferences")
        check_online_access(settings.address(), online_access, overridden)


def open_backend(settings: BackendSettings):
    """A client with health(), engines(), create_subject(), create_job(), job_status(), cancel(),
    fetch_asset() and close(). Its calls block (connecting, waiting for replies): call them off Blender's
    main thread."""
    if settings.kind == "HTTP":
        from .http import HTTPBackend
        return HTTPBackend(settings.url, settings.token, timeout=settings.timeout_s)
    if settings.kind == "SSH":
        from .ssh import SSHBackend
        return SSHBackend(host=settings.ssh_host.strip(), port=settings.ssh_port,
                          user=settings.ssh_user.strip() or None, key_file=settings.ssh_key_file or None,
                          known_hosts=settings.ssh_known_hosts or None, command=settings.ssh_command,
                          timeout=settings.timeout_s)
    if settings.kind == "LOCAL":
        from .stdio_client import LocalBackend
        return LocalBackend(timeout=settings.timeout_s)
    raise PromptFaceError(f"unknown backend kind {settings.kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
