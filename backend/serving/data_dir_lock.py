"""One server per data dir (HTTP or JSON lines): a second one would take the first one's running job for crashed."""
import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from addon.core.errors import PromptFaceError

log = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
LOCK_WAIT_SECONDS = 90.0  # longer than Service.stop() waits for the expression in progress


@contextmanager
def data_dir_lock(data_dir: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the data dir for one stdio server, waiting up to `wait` seconds for another to let go. Without it, a
    server started by a quick reconnect would take the old server's running job for crashed while the old one is
    still putting it back in the queue."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; a local child process there serves one Blender session anyway
        yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a") as handle:
        deadline, announced = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    log.warning("waiting for the server already using %s to stop", data_dir)
                    announced = True
                if time.monotonic() >= deadline:
                    raise PromptFaceError(
                        f"another PromptFace server has been using {data_dir} for over {wait:.0f} s; stop it, or "
                        "give this one its own --data-dir") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
