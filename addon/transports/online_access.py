"""Which backends the add-on may contact, given Blender's "Allow Online Access" setting.

Pure (no bpy): the caller passes `bpy.app.online_access` in. The backend on this computer (localhost, 127.0.0.0/8,
::1) is always allowed, as the extension guidelines ask; any other host needs online access.
"""
import ipaddress
from urllib.parse import urlsplit

from ..core.errors import PromptFaceError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a host name or address that can only mean this computer."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str:
    """The host of a backend URL (http://host:port/…, https://…, ssh://user@host:port); refuses anything else."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError as error:
        raise PromptFaceError(f"backend address {url!r} is not a valid URL ({error}); "
                              "expected e.g. http://127.0.0.1:8765") from None
    if parts.scheme not in ("http", "https", "ssh") or not host:
        raise PromptFaceError(f"backend address {url!r} is not an http://, https:// or ssh:// URL with a host; "
                              "expected e.g. http://127.0.0.1:8765")
    return host


def check_online_access(url: str, online_access: bool, overridden: bool = False) -> None:
    """Refuse a non-local backend while online access is off (Blender's Preferences › System › Network).

    `overridden` is `bpy.app.online_access_override`: Blender was started with --offline-mode, so the preference
    cannot be changed in this session.
    """
    host = url_host(url)
    if online_access or is_loopback(host):
        return
    if overridden:
        how = "Blender was started with --offline-mode; restart it without that option"
    else:
        how = "turn on Preferences › System › Network › Allow Online Access"
    raise PromptFaceError(f"online access is off, so PromptFace will not contact the backend at {host}. "
                          f"To use that server, {how}; or run the backend on this computer "
                          "(`promptface-backend serve`, URL http://127.0.0.1:PORT), which is always allowed")
