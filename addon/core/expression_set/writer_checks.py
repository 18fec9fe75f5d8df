"""What a writer refuses, checked before anything touches the disk; each refusal names the set being written."""
import dataclasses
from pathlib import Path

import numpy as np

from ..errors import ExpressionSetError
from ..obj_mesh import Mesh, check_mesh
from ..arkit import ARKIT_SHAPES, check_arkit_weights
from .data import ExpressionData, RigData, RigShapeData
from .format import EXPRESSION_NAME_PATTERN, RESERVED_NAMES, RIG_KINDS, RIG_SHAPE_NAME_PATTERN, safe_relative_path


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
            ("warnings", data.warnings, list, "list"),
            ("arkit_weights", data.arkit_weights, (dict, type(None)), "dict or None"),
            ("arkit_fit", data.arkit_fit, (dict, type(None)), "dict or None")):
        if not isinstance(value, allowed):
            raise cannot_write(out_dir, f"{what} {label} must be a {description}, got {type(value).__name__}")
    arkit_weights = data.arkit_weights
    if arkit_weights is not None:
        arkit_weights = _checked_weights(arkit_weights, f"{what} arkit_weights", out_dir)
    return dataclasses.replace(data, vertices=vertices, arkit_weights=arkit_weights)


def checked_rig(rig: RigData, base_mesh: Mesh, base_texture: np.ndarray, out_dir: Path) -> RigData:
    """rig with float32 vertices, after checking its kind, its shapes against the base and its poses. An ARKit rig
    has exactly Apple's 52 shapes, in Apple's order."""
    if rig.kind not in RIG_KINDS:
        raise cannot_write(out_dir, f"rig kind {rig.kind!r} is not one of {', '.join(RIG_KINDS)}")
    names = [shape.name for shape in rig.shapes]
    if rig.kind == "arkit" and tuple(names) != ARKIT_SHAPES:
        missing = [name for name in ARKIT_SHAPES if name not in names]
        raise cannot_write(out_dir, "an ARKit rig has Apple's 52 shapes in Apple's order; "
                                    f"{'missing ' + ', '.join(missing[:5]) if missing else 'the order differs'}")
    height, width = np.asarray(base_texture).shape[:2]
    shapes = []
    for shape in rig.shapes:
        if not isinstance(shape.name, str) or not RIG_SHAPE_NAME_PATTERN.match(shape.name):
            raise cannot_write(out_dir, f"rig shape name {shape.name!r} must be a letter then up to 63 letters, "
                                        "digits or _")
        what = f"rig shape {shape.name!r}"
        if (shape.texture is None) != (shape.mask is None):
            raise cannot_write(out_dir, f"{what} needs both a texture and a mask, or neither")
        if shape.texture is not None:
            _check_image(shape.texture, f"{what} texture", (height, width, 3), out_dir)
            _check_image(shape.mask, f"{what} mask", (height, width), out_dir)
        shapes.append(RigShapeData(name=shape.name, vertices=_checked_vertices(shape.vertices, base_mesh, what,
                                                                                  out_dir),
                                   texture=shape.texture, mask=shape.mask, recipe=shape.recipe))
    if not isinstance(rig.poses, dict):
        raise cannot_write(out_dir, f"rig poses must be a dict of {{pose: {{shape: weight}}}}, got "
                                    f"{type(rig.poses).__name__}")
    poses = {pose: _checked_weights(weights, f"rig pose {pose!r}", out_dir) for pose, weights in rig.poses.items()}
    return RigData(kind=rig.kind, shapes=shapes, poses=poses)


def _checked_weights(weights, what: str, out_dir: Path) -> dict[str, float]:
    if not isinstance(weights, dict):
        raise cannot_write(out_dir, f"{what} must be a dict of {{ARKit name: weight}}, got {type(weights).__name__}")
    try:
        return check_arkit_weights(weights, what)
    except ValueError as error:
        raise cannot_write(out_dir, str(error)) from None


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
