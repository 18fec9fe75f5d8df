"""The downloaded jobs on this computer: one folder per Generate, cache_root()/<job id>/, holding the job's
expression set.

A face built from a job reads its textures from the job's folder. Saving a .blend packs every image it reads from
a job folder into the file (a path relative to the file cannot be written reliably before it is saved: an unsaved
file has no folder yet, and Save As rebases relative paths), so a saved file no longer needs the folder. Folders
that no face or image of the open file uses, and that nothing was written to for longer than the Keep Downloads
preference, are deleted; a folder the open file still uses is never deleted, whatever its age.
"""
import logging
import shutil
import tempfile
import time
from collections.abc import Collection, Iterable
from pathlib import Path

import bpy

from ..preferences import ADDON_PACKAGE, keep_downloads_days
from ..scene.face_object import SET_PATH_PROPERTY
from ..scene.face_textures import image_file

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86400.0


def cache_root() -> Path:
    """Where downloaded jobs go: the extension's user folder, or a temporary folder outside an extension."""
    if ADDON_PACKAGE.startswith("bl_ext."):
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="jobs", create=True))
    return Path(tempfile.gettempdir()) / "promptface-jobs"


def unused_job_folders(root: Path, used: Collection[Path], max_age_s: float, now: float) -> list[Path]:
    """The job folders in `root` that none of the `used` paths is or lies in, and that were last written to more
    than `max_age_s` seconds before `now`."""
    if not root.is_dir():
        return []
    used = [path.resolve() for path in used]
    unused = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            continue
        if any(_is_within(path, folder.resolve()) for path in used):
            continue
        if now - folder.stat().st_mtime > max_age_s:
            unused.append(folder)
    return unused


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def paths_in_use() -> set[Path]:
    """What the open file reads from disk that a job folder could hold: every face's expression set and every
    image that is not packed."""
    paths = {Path(bpy.path.abspath(str(obj[SET_PATH_PROPERTY]))) for obj in bpy.data.objects
             if obj.get(SET_PATH_PROPERTY)}
    paths |= {image_file(image) for image in bpy.data.images if _reads_a_file(image)}
    return paths


def clean_job_cache(root: Path | None = None, also_in_use: Iterable[Path] = ()) -> list[Path]:
    """Delete the job folders in `root` (default cache_root()) that the open file does not use, nor `also_in_use`
    (a running job's), and that are older than the Keep Downloads preference; returns them."""
    max_age_s = keep_downloads_days() * SECONDS_PER_DAY
    try:
        removed = unused_job_folders(root or cache_root(), paths_in_use() | set(also_in_use), max_age_s,
                                     time.time())
    except OSError as error:
        log.warning("PromptFace: could not look through the downloaded jobs: %s", error)
        return []
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    if removed:
        log.info("PromptFace: deleted %d downloaded job folder(s) no open face uses", len(removed))
    return removed


def pack_downloaded_images() -> list[str]:
    """Pack every image the open file uses that is read from a job folder; returns their names."""
    root = cache_root().resolve()
    packed = []
    for image in bpy.data.images:
        if image.users and _reads_a_file(image) and _is_within(image_file(image).resolve(), root):
            try:
                image.pack()
            except RuntimeError as error:  # its file is gone: nothing left to keep
                log.warning("PromptFace: could not pack '%s': %s", image.name, error)
                continue
            packed.append(image.name)
    return packed


def _reads_a_file(image: bpy.types.Image) -> bool:
    return image.source == "FILE" and image.packed_file is None and bool(image.filepath)
