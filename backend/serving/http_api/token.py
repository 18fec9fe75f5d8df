"""The server's API token: made once per data dir, kept in DATA_DIR/token with mode 0600."""
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_FILE = "token"


def load_or_create_token(data_dir: Path) -> tuple[str, Path, bool]:
    """(token, its file, whether it was created now). A token file others can read is tightened to 0600."""
    path = Path(data_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s had mode %o; set to 600 so only this user can read the token", path, mode)
            os.chmod(path, 0o600)
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise RuntimeError(f"{path} is empty; delete it and start the server again to make a new token") from None
        return token, path, False
    token = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return token, path, True
