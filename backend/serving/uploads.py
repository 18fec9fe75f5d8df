"""An uploaded photo: the checks that refuse it before it is calibrated, the names it goes by, and how a calibrated
one is kept.

The image header itself is read by backend/subject/photo_io.open_photo_header; here its refusals become the
service's error codes.
"""
import re
from dataclasses import fields
from pathlib import Path

from addon.core.atomic_files import write_bytes_atomically
from addon.core.protocol import SubjectInfo
from backend.errors import InputImageError, NotAnImageError, PhotoTooLargeError
from backend.pipeline import PreparedSubject
from backend.serving.data_dir import private_folder, subject_dir
from backend.serving.errors import ServiceError
from backend.serving.job_store import JobStore, StoredSubject
from backend.subject.photo_io import PHOTO_SUFFIXES, open_photo_header


def check_photo_size(photo_bytes: bytes, max_upload_bytes: int) -> None:
    """Refuse a photo over the upload limit (413) or an empty one (400)."""
    if len(photo_bytes) > max_upload_bytes:
        raise ServiceError("too_large", f"the photo is {len(photo_bytes) / 1e6:.1f} MB; the limit is "
                                        f"{max_upload_bytes / 1e6:.1f} MB — scale it down or export it as JPEG")
    if not photo_bytes:
        raise ServiceError("bad_request", "the photo is empty (0 bytes); send a JPEG or PNG face photo")


def check_photo_header(photo_bytes: bytes, filename: str, max_pixels: int) -> None:
    """Refuse what is not an image (415), a damaged one (400) or one with too many pixels (413), from its header."""
    try:
        open_photo_header(photo_bytes, f"'{filename}'", max_pixels).close()
    except PhotoTooLargeError as error:
        raise ServiceError("too_large", str(error)) from None
    except NotAnImageError as error:
        raise ServiceError("unsupported_media", f"{error}; send a JPEG or PNG photo") from None
    except InputImageError as error:
        raise ServiceError("bad_request", str(error)) from None


def display_name(filename) -> str:
    """The client's file name, for messages only: its last part, printable, at most 100 characters."""
    name = re.split(r"[\\/]", str(filename or ""))[-1]
    name = "".join(character for character in name if character.isprintable())[-100:]
    return name or "the photo"


def stored_photo_name(client_name: str) -> str:
    """The stored photo's file name: 'photo' with the client's extension when it is an image one (the expression
    set's photo file keeps the same extension)."""
    suffix = Path(client_name).suffix.lower()
    return "photo" + (suffix if suffix in PHOTO_SUFFIXES else "")


def store_subject(store: JobStore, data_dir: Path, subject_id: str, photo_bytes: bytes, shown_name: str,
                  prepared: PreparedSubject) -> SubjectInfo:
    """Keep a calibrated photo: the photo under subjects/<subject_id>/ and its SubjectInfo in the store."""
    subject = prepared.subject
    info = SubjectInfo(subject_id=subject_id, sha256=subject.sha256, size=list(subject.photo_size),
                       face_box=subject.face.box.as_list(), notes=list(subject.notes))
    folder = subject_dir(data_dir, subject_id)
    private_folder(folder)
    photo_name = stored_photo_name(shown_name)
    write_bytes_atomically(folder / photo_name, photo_bytes, mode=0o600)
    store.add_subject(StoredSubject(subject_id, photo_name, {f.name: getattr(info, f.name) for f in fields(info)}))
    return info
