"""What a writer refuses, checked before anything touches the disk; each refusal names the set being written."""
import dataclasses
from pathlib import Path

import numpy as np

from ..errors import ExpressionSetError
from ..obj_mesh import Mesh, check_mesh
from .data import ExpressionData
from .format import EXPRESSION_NAME_PATTERN, RESERVED_NAMES, safe_relative_path


def cannot_write(out_dir: Path, reason: str) -> ExpressionSetError:
    """The error for a set that cannot be written to out_dir, and why."""
    return ExpressionSetError(f"Cannot write {out_dir}: {reason}")


def check_destination(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise ExpressionSetError(f"{out_dir} exists; pass overwrite=True (--overwrite on the command line) "
                                 "to replace it, or choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExpressionSetError(f"{out_dir} exists and is not a folder; remove it or choose another folder")


def check_subject_photo(subject_photo: tuple[str, bytes], out_dir: Path) -> tuple[str, bytes]:
    try:
        name, data = subject_photo
    except (TypeError, ValueError):
        raise cannot_write(out_dir, "subject_photo must be (file name, bytes)") from None
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise cannot_write(out_dir, "the subject photo bytes are empty or not bytes")
    if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name
            or "\0" in name or len(name) > 255):
        raise cannot_write(out_dir, f"subject photo name {name!r} must be a plain file name "
                                    "(no folders, not hidden), e.g. 'subject.jpg'")
    return name, bytes(data)


def check_base(base_mesh: Mesh, base_texture: np.ndarray, out_dir: Path) -> None:
    try:
        check_mesh(base_mesh)
    except ValueError as error:
        raise cannot_write(out_dir, f"the base {error}") from None
    if not base_mesh.has_uvs:
        raise cannot_write(out_dir, "the base mesh has no UVs; the textures need them")
    if not np.all(np.isfinite(base_mesh.vertices)):
        raise cannot_write(out_dir, "the base mesh has NaN or infinite vertex positions")
    _check_image(base_texture, "the base texture", (None, None, 3), out_dir)


def checked_expression(data: ExpressionData, base_mesh: Mesh, base_texture: np.ndarray,
                       out_dir: Path) -> ExpressionData:
    """data with vertices as float32, after checking every field against the base."""
    name = data.name
    if not isinstance(name, str) or not EXPRESSION_NAME_PATTERN.match(name):
        raise cannot_write(out_dir, f"expression name {name!r} must be 1-64 characters of a-z, 0-9 and _")
    if name in RESERVED_NAMES:
        raise cannot_write(out_dir, f"expression name {name!r} is reserved; choose another")
    what = f"expression {name!r}"
    for label, text in (("prompt", data.prompt), ("full_prompt", data.full_prompt)):
        if not isinstance(text, str):
            raise cannot_write(out_dir, f"{what} {label} must be a string, got {type(text)}")
    vertices = _checked_vertices(data.vertices, base_mesh, what, out_dir)
    height, width = np.asarray(base_texture).shape[:2]
    _check_image(data.texture, f"{what} texture", (height, width, 3), out_dir)
    _check_image(data.mask, f"{what} mask", (height, width), out_dir)
    _check_image(data.edited, f"{what} edited photo", (None, None, 3), out_dir)
    for label, value, allowed, description in (
            ("action_units", data.action_units, (dict, type(None)), "dict or None"),
            ("weights", data.weights, (dict, type(None)), "dict or None"),
            ("reads_as", data.reads_as, (dict, type(None)), "dict or None"),
            ("metrics", data.metrics, dict, "dict"), ("timings", data.timings, dict, "dict"),
            ("warnings", data.warnings, list, "list")):
        if not isinstance(value, allowed):
            raise cannot_write(out_dir, f"{what} {label} must be a {description}, got {type(value).__name__}")
    return dataclasses.replace(data, vertices=vertices)


def _checked_vertices(vertices, base_mesh: Mesh, what: str, out_dir: Path) -> np.ndarray:
    """vertices as float32, refusing another shape than the base's, non-numbers, NaN and inf."""
    vertices = np.asarray(vertices)
    expected = np.asarray(base_mesh.vertices).shape
    if vertices.shape != expected or vertices.dtype.kind not in "fiu":
        raise cannot_write(out_dir, f"{what} vertices are {vertices.dtype} {vertices.shape}, "
                                    f"expected float {expected} like the base mesh")
    with np.errstate(over="ignore"):  # values too large for float32 become inf, refused just below
        vertices = vertices.astype(np.float32)
    if not np.all(np.isfinite(vertices)):
        raise cannot_write(out_dir, f"{what} vertices contain NaN or infinite values")
    return vertices


def _check_image(image: np.ndarray, what: str, shape: tuple, out_dir: Path) -> None:
    """image must be uint8 of the given shape (None = any size)."""
    image = np.asarray(image)
    matches = image.ndim == len(shape) and all(want is None or want == got
                                               for want, got in zip(shape, image.shape, strict=True))
    if image.dtype != np.uint8 or not matches or image.size == 0:
        wanted = "(" + ",".join("any" if size is None else str(size) for size in shape) + ")"
        raise cannot_write(out_dir, f"{what} is {image.dtype} {image.shape}, expected uint8 of shape {wanted}")


def check_expression_list(expressions: list[ExpressionData], out_dir: Path) -> None:
    if not expressions:
        raise cannot_write(out_dir, "there are no expressions (the neutral comes first)")
    names = [expression.name for expression in expressions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise cannot_write(out_dir, f"expression names must be unique; repeated: {', '.join(duplicates)}")


def checked_extra_files(extra_files: dict[str, bytes], taken: set[str], out_dir: Path) -> dict[str, bytes]:
    """extra_files keyed by normalised relative POSIX path, refusing paths that escape the set or clash."""
    taken_lower = {name.lower() for name in taken}
    checked = {}
    for name, data in extra_files.items():
        relative = safe_relative_path(name)
        if relative is None:
            raise cannot_write(out_dir, f"extra file {name!r} must be a relative path inside the set "
                                        "(no absolute path, no '..')")
        if relative.lower() in taken_lower:
            raise cannot_write(out_dir, f"extra file {name!r} would replace a file of the set; rename it")
        if not isinstance(data, (bytes, bytearray)):
            raise cannot_write(out_dir, f"extra file {name!r} must be bytes, got {type(data)}")
        checked[relative] = bytes(data)
    return checked
