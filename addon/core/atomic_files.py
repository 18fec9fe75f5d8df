"""Files and folders that appear in one step: written under a hidden temporary name beside their destination, then
renamed into place, so a reader (or a crash) never sees half of one. Pure stdlib; used by both sides.
"""
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def hidden_sibling(path: str | os.PathLike, purpose: str) -> Path:
    """An unused hidden name beside path, e.g. '.shot.partial-1a2b3c4d5e6f' (leading dot: readers skip it)."""
    path = Path(path)
    return path.parent / f".{path.name}.{purpose}-{uuid.uuid4().hex[:12]}"


@contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends, removed if it fails."""
    path = Path(path)
    staging = hidden_sibling(path, "partial")
    try:
        yield staging
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: str | os.PathLike, data: bytes, mode: int = 0o666) -> Path:
    """Write data to path in one step; the file is created with `mode` (less the umask)."""
    with staged_file(path) as staging:
        with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as handle:
            handle.write(data)
    return Path(path)


def move_folder_into_place(staging: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Rename the staging folder to destination; an existing destination is moved aside first, put back if the
    rename fails, and deleted last."""
    staging, destination = Path(staging), Path(destination)
    if not destination.exists():
        os.rename(staging, destination)
        return
    aside = hidden_sibling(destination, "old")
    os.rename(destination, aside)
    try:
        os.rename(staging, destination)
    except BaseException:
        os.rename(aside, destination)
        raise
    shutil.rmtree(aside, ignore_errors=True)
