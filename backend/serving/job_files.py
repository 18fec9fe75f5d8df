"""A job's files as a client fetches them: the assets of its current set, one by one, and the zip once it succeeded.

A job dir holds partial/ while the job runs and result/ once its set is complete (backend/serving/data_dir.py); a
set's manifest names its files, and only those, by names that cannot leave the set's folder, are served.
"""
import json
import re
from pathlib import Path

from addon.core.expression_set import MANIFEST_FILE, manifest_file_names
from backend.serving.data_dir import ZIP_FILE
from backend.serving.errors import ServiceError
from backend.serving.job_store import StoredJob

# The names of the files of an expression set that a client may fetch: no folders, nothing hidden. Capitals too:
# a rig's files keep ARKit's spelling (rig.eyeBlinkLeft.vertices.npy).
ASSET_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


def job_set_files(folder: Path, status: str) -> tuple[Path, list[str]]:
    """The folder of the current set of the job whose job dir is `folder`, and the asset names in it (those its
    manifest stands for)."""
    if status == "queued":
        return folder / "partial", []
    for set_dir in ((folder / "result", folder / "partial") if status == "succeeded"
                    else (folder / "partial", folder / "result")):
        # partial/ becomes result/ at the end of a run: look in both, the one named first wins.
        try:
            manifest = json.loads((set_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
            names = manifest_file_names(manifest)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        return set_dir, [name for name in names if ASSET_NAME.fullmatch(name)]
    return folder / "partial", []


def check_asset_name(name) -> None:
    """Refuse (400) what is not the name of a file of an expression set."""
    if not isinstance(name, str) or not ASSET_NAME.fullmatch(name):
        raise ServiceError("bad_request", f"asset name {name!r} is not a file name of an expression set "
                                          "(letters, digits, _ and dots, no folders); take names from the job's files")


def asset_file(folder: Path, row: StoredJob, name: str) -> Path:
    """The file `name` (a checked asset name) of the current set of the job `row`, whose job dir is `folder`."""
    set_dir, files = job_set_files(folder, row.status)
    if name not in files:
        raise ServiceError("not_found", f"job {row.job_id} has no file '{name}' now; it has: "
                                        f"{', '.join(files) or 'nothing yet'}")
    return set_dir / name


def set_zip_file(folder: Path, row: StoredJob) -> Path:
    """The zip of the job `row`, whose job dir is `folder`: refused until the job has succeeded."""
    if row.status != "succeeded":
        raise ServiceError("not_ready", f"job {row.job_id} is {row.status}; the whole expression set can be fetched "
                                        "once it has succeeded (single files of the partial set can be fetched "
                                        "now, see its files)")
    path = folder / ZIP_FILE
    if not path.is_file():
        raise ServiceError("not_found", zip_gone(row.job_id))
    return path


def zip_gone(job_id: str) -> str:
    return (f"the zip of job {job_id} is no longer on this server; fetch the set's files one by one (see its "
            "files), or submit the job again")
