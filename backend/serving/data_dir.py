"""The service's files: where each thing lives under settings.data_dir, and the file operations done on them.

    store.sqlite3                    subjects and jobs (backend/serving/job_store.py)
    subjects/<subject_id>/<photo>    each uploaded photo, as sent
    jobs/<job_id>/partial/           while a job runs: a valid expression set of the expressions done so far
    jobs/<job_id>/result/            the finished set; it is partial/ renamed, so it appears in one step
    jobs/<job_id>/expression-set.zip the finished set zipped, written before the job is marked succeeded
Every folder is made 0700 and every file 0600 (the serve commands set the umask; Service.start() tightens the data
dir).
"""
import logging
import os
import shutil
import stat
from pathlib import Path

from backend.serving.job_store import StoredSubject

log = logging.getLogger(__name__)

STORE_FILE = "store.sqlite3"
ZIP_FILE = "expression-set.zip"


def job_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "jobs" / job_id


def subject_dir(data_dir: Path, subject_id: str) -> Path:
    return data_dir / "subjects" / subject_id


def photo_path(data_dir: Path, subject: StoredSubject) -> Path:
    """The stored photo of a subject."""
    return subject_dir(data_dir, subject.subject_id) / subject.photo_file


def private_folder(folder: Path) -> None:
    """Make folder (and its parents) if needed, and leave it 0700: a folder others could read is tightened, with a
    warning (a data dir made before, e.g. --data-dir /scratch/pf)."""
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if existed and mode & 0o077:
        log.warning("%s was open to other users (mode %o); set to 700 so that only this user can read photos "
                    "and results", folder, mode)
    if mode != 0o700:
        os.chmod(folder, 0o700)


def folder_bytes(folder: Path) -> int:
    """The size of the files under folder (0 when it does not exist)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def remove(path: Path) -> None:
    """Remove a file or a folder with everything in it; what is not there is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
