"""The expression-set format `promptface.expressions/1`: what one pipeline run writes and the add-on reads.

A folder (or the same folder zipped) holding manifest.json, base.obj (+ base.mtl), base_texture.png, the subject
photo, and per expression NAME.vertices.npy, NAME.texture.png, NAME.mask.png, NAME.edited.png and optionally
NAME.obj (+ NAME.mtl). See DESIGN.md "The expression set".

Writers build the whole set in a hidden sibling folder and rename it into place, so a crash never leaves a
half-written set. `ExpressionSetBuilder` grows a set one expression at a time; its folder is a valid set after
every step (the live loop reads it while a job runs). Readers check every referenced file and refuse anything
inconsistent, naming the file.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path, PurePosixPath

import numpy as np

from .errors import ExpressionSetError
from .obj_mesh import Mesh, check_mesh, read_obj, write_obj
from .png import encode_png, png_size

FORMAT_NAME = "promptface.expressions"
# 1.1: expressions may carry "reads_as" (an expression recogniser's class probabilities) and the subject
# "photo_expression" (the action units read from the photo); 1.0 readers ignore both.
FORMAT_VERSION = "1.1"
SUPPORTED_MAJOR_VERSION = 1

MANIFEST_FILE = "manifest.json"
BASE_MESH_FILE = "base.obj"
BASE_MATERIAL_FILE = "base.mtl"
BASE_TEXTURE_FILE = "base_texture.png"

EXPRESSION_NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")
# "base" would make NAME.obj overwrite base.obj.
RESERVED_NAMES = frozenset({"base"})
REQUIRED_EXPRESSION_FILES = ("vertices", "texture", "mask", "edited")


@dataclass
class ExpressionData:
    """What a writer is given for one expression."""

    name: str
    """File-safe name (a-z, 0-9, _), unique in the set; the first expression of a set is the neutral."""
    prompt: str
    """The prompt as the user typed it."""
    full_prompt: str
    """The prompt as the editor received it (after the template)."""
    vertices: np.ndarray
    """(V,3) float32, same vertex order as the base mesh."""
    texture: np.ndarray
    """(H,W,3) uint8 sRGB in the base UV layout, the size of the base texture."""
    mask: np.ndarray
    """(H,W) uint8 change mask against the base texture."""
    edited: np.ndarray
    """(h,w,3) uint8, the edited photo."""
    action_units: dict | None = None
    weights: dict | None = None
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    reads_as: dict | None = None
    """{class: probability} from the backend's expression recogniser (None: not scored)."""


@dataclass
class Expression:
    """One expression of a set that has been read."""

    name: str
    prompt: str
    full_prompt: str
    vertices: np.ndarray
    """(V,3) float32, same vertex order as the base mesh."""
    texture_path: Path
    mask_path: Path
    edited_path: Path
    record: dict
    """The raw manifest entry (metrics, timings, warnings, action_units, weights, files)."""


@dataclass
class ExpressionSet:
    """An expression set that has been read and checked. Expressions keep the manifest's order, neutral first."""

    root: Path
    manifest: dict
    base_mesh: Mesh
    base_texture_path: Path
    expressions: list[Expression]
    _extracted: tempfile.TemporaryDirectory | None = field(default=None, repr=False, compare=False)
    """Holds the extraction folder of a zipped set alive as long as this object."""

    def names(self) -> list[str]:
        return [expression.name for expression in self.expressions]

    def expression(self, name: str) -> Expression:
        for expression in self.expressions:
            if expression.name == name:
                return expression
        raise ExpressionSetError(f"{self.root}: no expression named {name!r}; "
                                 f"the set has {', '.join(self.names())}")

    def close(self) -> None:
        """Delete the extracted files of a zipped set now instead of when this object is collected."""
        if self._extracted is not None:
            self._extracted.cleanup()
            self._extracted = None


def expression_file_names(name: str, with_obj: bool = False) -> dict[str, str]:
    """The manifest's "files" entry of expression `name`."""
    files = {
        "vertices": f"{name}.vertices.npy",
        "texture": f"{name}.texture.png",
        "mask": f"{name}.mask.png",
        "edited": f"{name}.edited.png",
    }
    if with_obj:
        files["obj"] = f"{name}.obj"
    return files


def manifest_file_names(manifest: dict) -> list[str]:
    """Every file a set's manifest stands for (itself, the base, the photo, each expression's files), top-level
    names only; what a server may hand out of a set that is still growing. Raises KeyError/TypeError if malformed."""
    names = [MANIFEST_FILE, manifest["topology"]["base_mesh"], BASE_MATERIAL_FILE, manifest["base_texture"],
             manifest["subject"]["photo"]]
    for record in manifest["expressions"]:
        names.extend(record["files"].values())
        if "obj" in record["files"]:
            names.append(f"{record['name']}.mtl")
    return [name for name in dict.fromkeys(names) if "/" not in name]


# ---------------------------------------------------------------------------------------------------------------
# Writing


def write_expression_set(out_dir: str | PathLike, *, subject: dict, subject_photo: tuple[str, bytes], engines: dict,
                         base_mesh: Mesh, base_texture: np.ndarray, expressions: list[ExpressionData],
                         extra_files: dict[str, bytes] | None = None, write_expression_objs: bool = False,
                         overwrite: bool = False) -> Path:
    """Write a complete expression set to out_dir, atomically, and return out_dir.

    subject: at least "size" [w,h] and "face_box" [x,y,w,h] of the photo; "photo" and "sha256" are added.
    subject_photo: (file name, bytes) of the neutral photo. extra_files: relative path -> bytes (diagnostics).
    Everything is checked before anything is written. If out_dir exists it is replaced only with overwrite=True.
    """
    out_dir = Path(out_dir)
    # 1. Check the inputs; nothing touches the disk before this is done.
    builder = ExpressionSetBuilder(out_dir, subject=subject, subject_photo=subject_photo, engines=engines,
                                   base_mesh=base_mesh, base_texture=base_texture,
                                   write_expression_objs=write_expression_objs, overwrite=overwrite)
    _check_expression_list(expressions, out_dir)
    expressions = [builder.check(data) for data in expressions]
    builder.check_extra_files(extra_files or {}, expressions)
    # 2. Grow the set in a hidden sibling folder, then rename it into place.
    try:
        builder.begin(expressions[0])
        for expression in expressions[1:]:
            builder.add(expression)
        return builder.finish(extra_files)
    except BaseException:
        builder.abandon()
        raise


class ExpressionSetBuilder:
    """Writes an expression set one expression at a time (the live loop), then moves it into place.

    The set grows in `staging_dir` (a hidden sibling of out_dir unless given). After begin() and after every add()
    that folder is a complete, valid set holding the expressions written so far, neutral first: each expression's
    files are written before manifest.json is replaced (temporary name + os.replace), so a reader never sees a
    manifest that names a missing file. finish() renames the folder to out_dir; abandon() removes it.
    """

    def __init__(self, out_dir: str | PathLike, *, subject: dict, subject_photo: tuple[str, bytes], engines: dict,
                 base_mesh: Mesh, base_texture: np.ndarray, write_expression_objs: bool = False,
                 overwrite: bool = False, staging_dir: str | PathLike | None = None,
                 png_encoder: Callable[[np.ndarray], bytes] | None = None):
        """Checks the destination, photo, base and manifest header; writes nothing. png_encoder turns a uint8 image
        into PNG bytes: this module's own by default (pure Python, as Blender runs it); a writer with a faster one
        (the backend has OpenCV's) passes it."""
        self.out_dir = Path(out_dir)
        _check_destination(self.out_dir, overwrite)
        self.staging_dir = Path(staging_dir) if staging_dir else _hidden_sibling(self.out_dir, "partial")
        self._photo_name, self._photo_bytes = _check_subject_photo(subject_photo, self.out_dir)
        _check_base(base_mesh, base_texture, self.out_dir)
        self._base_mesh, self._base_texture = base_mesh, base_texture
        self._with_objs, self._overwrite = write_expression_objs, overwrite
        self._manifest = _manifest(subject, self._photo_name, self._photo_bytes, engines, base_mesh, [],
                                   write_expression_objs, self.out_dir)
        self._expressions: list[ExpressionData] = []
        self._started = False
        self._encode_png = png_encoder or encode_png

    def check(self, expression: ExpressionData) -> ExpressionData:
        """expression with float32 vertices, after checking it against the base and the names already added
        (its manifest entry is built too, so values that JSON cannot hold are refused here)."""
        data = _checked_expression(expression, self._base_mesh, self._base_texture, self.out_dir)
        if data.name in {added.name for added in self._expressions}:
            raise ExpressionSetError(f"Cannot write {self.out_dir}: expression names must be unique; "
                                     f"repeated: {data.name}")
        _expression_record(data, self._with_objs, self.out_dir)
        return data

    def check_extra_files(self, extra_files: dict[str, bytes], expressions: list[ExpressionData]) -> dict[str, bytes]:
        """extra_files (relative path -> bytes) checked not to escape the set nor replace one of its files."""
        generated = _generated_file_names(expressions, self._with_objs) | {self._photo_name}
        return _checked_extra_files(extra_files, generated, self.out_dir)

    def begin(self, neutral: ExpressionData, *also: ExpressionData) -> None:
        """Create staging_dir (it must not exist) with the photo, base mesh, base texture, the neutral (and the
        expressions in `also`) and then the manifest: from here on the folder is a valid set, with all of them."""
        if self._started:
            raise ExpressionSetError(f"Cannot write {self.out_dir}: begin() was already called")
        neutral, also = self.check(neutral), [self.check(expression) for expression in also]
        _check_expression_list([neutral, *also], self.out_dir)  # unique among themselves (nothing is added yet)
        self.staging_dir.parent.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir()
        self._started = True
        (self.staging_dir / self._photo_name).write_bytes(self._photo_bytes)
        write_obj(self.staging_dir / BASE_MESH_FILE, self._base_mesh, material_name="base",
                  texture_file=BASE_TEXTURE_FILE)
        base_png = self._encode_png(self._base_texture)
        (self.staging_dir / BASE_TEXTURE_FILE).write_bytes(base_png)
        self._write_files(neutral, base_png if np.array_equal(neutral.texture, self._base_texture) else None)
        for expression in also:
            self._write_files(expression)
        self._write_manifest()

    def add(self, expression: ExpressionData) -> None:
        """Write one more expression's files, then the manifest that lists it."""
        if not self._started:
            raise ExpressionSetError(f"Cannot write {self.out_dir}: call begin() with the neutral first")
        self._write_files(self.check(expression))
        self._write_manifest()

    def manifest(self) -> dict:
        """A copy of the manifest as it is on disk now."""
        return json.loads(json.dumps(self._manifest))

    def finish(self, extra_files: dict[str, bytes] | None = None) -> Path:
        """Write extra_files (relative path -> bytes, e.g. diagnostics) and rename the set to out_dir
        (an existing out_dir is replaced only with overwrite=True); returns out_dir."""
        if not self._started:
            raise ExpressionSetError(f"Cannot write {self.out_dir}: the set has no expressions yet")
        for relative, data in self.check_extra_files(extra_files or {}, self._expressions).items():
            target = self.staging_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _move_into_place(self.staging_dir, self.out_dir, self._overwrite)
        return self.out_dir

    def abandon(self) -> None:
        """Remove the staging folder (after an error, when it is a hidden sibling nobody reads)."""
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def _write_files(self, expression: ExpressionData, texture_png: bytes | None = None) -> None:
        _write_expression_files(self.staging_dir, expression, self._base_mesh, self._with_objs, self._encode_png,
                                texture_png)
        self._expressions.append(expression)
        self._manifest["expressions"].append(_expression_record(expression, self._with_objs, self.out_dir))

    def _write_manifest(self) -> None:
        text = json.dumps(self._manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        temporary = self.staging_dir / f".{MANIFEST_FILE}.{uuid.uuid4().hex[:12]}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.staging_dir / MANIFEST_FILE)


def _check_destination(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise ExpressionSetError(f"{out_dir} exists; pass overwrite=True (--overwrite on the command line) "
                                 "to replace it, or choose another folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExpressionSetError(f"{out_dir} exists and is not a folder; remove it or choose another folder")


def _check_subject_photo(subject_photo: tuple[str, bytes], out_dir: Path) -> tuple[str, bytes]:
    try:
        name, data = subject_photo
    except (TypeError, ValueError):
        raise ExpressionSetError(f"Cannot write {out_dir}: subject_photo must be (file name, bytes)") from None
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ExpressionSetError(f"Cannot write {out_dir}: the subject photo bytes are empty or not bytes")
    if (not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name
            or "\0" in name or len(name) > 255):
        raise ExpressionSetError(f"Cannot write {out_dir}: subject photo name {name!r} must be a plain file name "
                                 "(no folders, not hidden), e.g. 'subject.jpg'")
    return name, bytes(data)


def _check_base(base_mesh: Mesh, base_texture: np.ndarray, out_dir: Path) -> None:
    try:
        check_mesh(base_mesh)
    except ValueError as error:
        raise ExpressionSetError(f"Cannot write {out_dir}: the base {error}") from None
    if not base_mesh.has_uvs:
        raise ExpressionSetError(f"Cannot write {out_dir}: the base mesh has no UVs; the textures need them")
    if not np.all(np.isfinite(base_mesh.vertices)):
        raise ExpressionSetError(f"Cannot write {out_dir}: the base mesh has NaN or infinite vertex positions")
    _check_image(base_texture, "the base texture", (None, None, 3), out_dir)


def _checked_expression(data: ExpressionData, base_mesh: Mesh, base_texture: np.ndarray,
                        out_dir: Path) -> ExpressionData:
    """data with vertices as float32, after checking every field against the base."""
    name = data.name
    if not isinstance(name, str) or not EXPRESSION_NAME_PATTERN.match(name):
        raise ExpressionSetError(f"Cannot write {out_dir}: expression name {name!r} must be 1-64 characters "
                                 "of a-z, 0-9 and _")
    if name in RESERVED_NAMES:
        raise ExpressionSetError(f"Cannot write {out_dir}: expression name {name!r} is reserved; choose another")
    what = f"expression {name!r}"
    for label, text in (("prompt", data.prompt), ("full_prompt", data.full_prompt)):
        if not isinstance(text, str):
            raise ExpressionSetError(f"Cannot write {out_dir}: {what} {label} must be a string, got {type(text)}")
    vertices = np.asarray(data.vertices)
    expected = np.asarray(base_mesh.vertices).shape
    if vertices.shape != expected or vertices.dtype.kind not in "fiu":
        raise ExpressionSetError(f"Cannot write {out_dir}: {what} vertices are {vertices.dtype} {vertices.shape}, "
                                 f"expected float {expected} like the base mesh")
    with np.errstate(over="ignore"):  # values too large for float32 become inf, refused just below
        vertices = vertices.astype(np.float32)
    if not np.all(np.isfinite(vertices)):
        raise ExpressionSetError(f"Cannot write {out_dir}: {what} vertices contain NaN or infinite values")
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
            raise ExpressionSetError(f"Cannot write {out_dir}: {what} {label} must be a {description}, "
                                     f"got {type(value).__name__}")
    return dataclasses.replace(data, vertices=vertices)


def _check_image(image: np.ndarray, what: str, shape: tuple, out_dir: Path) -> None:
    """image must be uint8 of the given shape (None = any size)."""
    image = np.asarray(image)
    matches = image.ndim == len(shape) and all(want is None or want == got for want, got in zip(shape, image.shape))
    if image.dtype != np.uint8 or not matches or image.size == 0:
        wanted = "(" + ",".join("any" if size is None else str(size) for size in shape) + ")"
        raise ExpressionSetError(f"Cannot write {out_dir}: {what} is {image.dtype} {image.shape}, "
                                 f"expected uint8 of shape {wanted}")


def _check_expression_list(expressions: list[ExpressionData], out_dir: Path) -> None:
    if not expressions:
        raise ExpressionSetError(f"Cannot write {out_dir}: there are no expressions (the neutral comes first)")
    names = [expression.name for expression in expressions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ExpressionSetError(f"Cannot write {out_dir}: expression names must be unique; "
                                 f"repeated: {', '.join(duplicates)}")


def _generated_file_names(expressions: list[ExpressionData], with_objs: bool) -> set[str]:
    names = {MANIFEST_FILE, BASE_MESH_FILE, BASE_MATERIAL_FILE, BASE_TEXTURE_FILE}
    for expression in expressions:
        names.update(expression_file_names(expression.name, with_objs).values())
        if with_objs:
            names.add(f"{expression.name}.mtl")
    return names


def _checked_extra_files(extra_files: dict[str, bytes], taken: set[str], out_dir: Path) -> dict[str, bytes]:
    """extra_files keyed by normalised relative POSIX path, refusing paths that escape the set or clash."""
    taken_lower = {name.lower() for name in taken}
    checked = {}
    for name, data in extra_files.items():
        relative = _safe_relative_path(name)
        if relative is None:
            raise ExpressionSetError(f"Cannot write {out_dir}: extra file {name!r} must be a relative path inside "
                                     "the set (no absolute path, no '..')")
        if relative.lower() in taken_lower:
            raise ExpressionSetError(f"Cannot write {out_dir}: extra file {name!r} would replace a file of the set; "
                                     "rename it")
        if not isinstance(data, (bytes, bytearray)):
            raise ExpressionSetError(f"Cannot write {out_dir}: extra file {name!r} must be bytes, got {type(data)}")
        checked[relative] = bytes(data)
    return checked


def _safe_relative_path(name) -> str | None:
    """name as a normalised relative POSIX path, or None if it is absolute, climbs with '..' or is empty."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return None
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "."]
    if path.is_absolute() or not parts or ".." in parts or ":" in parts[0]:
        return None
    return "/".join(parts)


def _manifest(subject: dict, photo_name: str, photo_bytes: bytes, engines: dict, base_mesh: Mesh,
              expressions: list[ExpressionData], with_objs: bool, out_dir: Path) -> dict:
    if not isinstance(subject, dict) or "size" not in subject or "face_box" not in subject:
        raise ExpressionSetError(f"Cannot write {out_dir}: subject must be a dict with at least 'size' [w,h] "
                                 "and 'face_box' [x,y,w,h]")
    if not isinstance(engines, dict):
        raise ExpressionSetError(f"Cannot write {out_dir}: engines must be a dict, got {type(engines)}")
    subject_record = _json_ready(subject, "subject", out_dir)
    subject_record.update(photo=photo_name, sha256=hashlib.sha256(photo_bytes).hexdigest())
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "subject": subject_record,
        "engines": _json_ready(engines, "engines", out_dir),
        "topology": {"base_mesh": BASE_MESH_FILE, "vertices": int(len(base_mesh.vertices)),
                     "faces": int(len(base_mesh.faces)), "uv": True},
        "base_texture": BASE_TEXTURE_FILE,
        "expressions": [_expression_record(expression, with_objs, out_dir) for expression in expressions],
    }


def _expression_record(expression: ExpressionData, with_obj: bool, out_dir: Path) -> dict:
    what = f"expression {expression.name!r}"
    return {
        "name": expression.name,
        "prompt": expression.prompt,
        "full_prompt": expression.full_prompt,
        "action_units": _json_ready(expression.action_units, f"{what} action_units", out_dir),
        "weights": _json_ready(expression.weights, f"{what} weights", out_dir),
        "files": expression_file_names(expression.name, with_obj),
        "metrics": _json_ready(expression.metrics, f"{what} metrics", out_dir),
        "timings": _json_ready(expression.timings, f"{what} timings", out_dir),
        "warnings": _json_ready(expression.warnings, f"{what} warnings", out_dir),
        "reads_as": _json_ready(expression.reads_as, f"{what} reads_as", out_dir),
    }


def _json_ready(value, what: str, out_dir: Path):
    """value as plain JSON types (numpy scalars and arrays become numbers and lists); refuses NaN and objects."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_numpy_to_json))
    except (TypeError, ValueError) as error:
        raise ExpressionSetError(f"Cannot write {out_dir}: {what} cannot be stored as JSON ({error}); use plain "
                                 "numbers, strings, lists and dicts, and None instead of NaN") from None


def _numpy_to_json(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _write_expression_files(folder: Path, expression: ExpressionData, base_mesh: Mesh, with_obj: bool,
                            encode: Callable[[np.ndarray], bytes] | None = None,
                            texture_png: bytes | None = None) -> None:
    """encode: the PNG encoder (default this module's); texture_png: the texture already encoded (the neutral's is
    usually the base texture)."""
    encode = encode or encode_png
    files = expression_file_names(expression.name, with_obj)
    with open(folder / files["vertices"], "wb") as file:
        np.save(file, expression.vertices.astype(np.float32), allow_pickle=False)
    (folder / files["texture"]).write_bytes(texture_png or encode(expression.texture))
    (folder / files["mask"]).write_bytes(encode(expression.mask))
    (folder / files["edited"]).write_bytes(encode(expression.edited))
    if with_obj:
        mesh = Mesh(vertices=expression.vertices, faces=base_mesh.faces, uvs=base_mesh.uvs,
                    face_uvs=base_mesh.face_uvs)
        write_obj(folder / files["obj"], mesh, material_name=expression.name, texture_file=files["texture"])


def _hidden_sibling(path: Path, purpose: str) -> Path:
    """An unused hidden name beside path, e.g. '.shot.partial-1a2b3c4d'."""
    return path.parent / f".{path.name}.{purpose}-{uuid.uuid4().hex[:12]}"


def _move_into_place(staging: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename staging to out_dir; an existing out_dir (overwrite=True) is moved aside first and deleted last."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    _check_destination(out_dir, overwrite)
    aside = _hidden_sibling(out_dir, "old")
    os.rename(out_dir, aside)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Reading


def read_expression_set(path: str | PathLike) -> ExpressionSet:
    """Read and check the expression set in a folder or a .zip of that folder.

    A zip is extracted to a temporary folder that lives as long as the returned ExpressionSet (or until close()).
    Raises ExpressionSetError naming the file for anything missing, malformed or of an unknown version.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, str(path))
    if not path.exists():
        raise ExpressionSetError(f"{path}: no such expression set (expected a folder or a .zip of one)")
    if not zipfile.is_zipfile(path):
        raise ExpressionSetError(f"{path}: not an expression set; expected a folder or a .zip of one")
    extracted = tempfile.TemporaryDirectory(prefix="promptface-set-")
    try:
        root, prefix = _extract_zip(path, Path(extracted.name))
        label = f"{path}:{prefix.rstrip('/')}" if prefix else str(path)
        expression_set = _read_folder(root, label, in_zip=True)
    except BaseException:
        extracted.cleanup()
        raise
    expression_set._extracted = extracted
    return expression_set


def _extract_zip(zip_path: Path, destination: Path) -> tuple[Path, str]:
    """Extract zip_path into destination; returns the folder holding manifest.json and its prefix in the zip."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            for name in names:
                if _safe_relative_path(name.rstrip("/")) is None:
                    raise ExpressionSetError(f"{zip_path}: member {name!r} has an absolute path or '..'; "
                                             "refusing to extract it — the zip is not a PromptFace expression set")
            prefix = _manifest_prefix(names, zip_path)
            archive.extractall(destination)
    except (zipfile.BadZipFile, OSError) as error:
        raise ExpressionSetError(f"{zip_path}: cannot extract the zip ({error})") from error
    return destination / prefix, prefix


def _manifest_prefix(names: list[str], zip_path: Path) -> str:
    """'' if manifest.json is at the top of the zip, 'folder/' if it is in a single top-level folder."""
    if MANIFEST_FILE in names:
        return ""
    folders = [name[:-len(MANIFEST_FILE)] for name in names
               if name.endswith("/" + MANIFEST_FILE) and name.count("/") == 1]
    if len(folders) != 1:
        raise ExpressionSetError(f"{zip_path}: no {MANIFEST_FILE} at the top of the zip or in one folder inside it; "
                                 "zip the expression set folder as written by PromptFace")
    return folders[0]


class _SetFiles:
    """Resolves and names the files of a set being read, so that errors name what the user has (the zip too)."""

    def __init__(self, root: Path, label: str, in_zip: bool):
        self.root, self.label, self.in_zip = root, label, in_zip

    def display(self, relative: str) -> str:
        return f"{self.label}/{relative}"

    def path(self, relative, referenced_by: str) -> Path:
        """The existing file that manifest field `referenced_by` names."""
        if relative is None:
            raise ExpressionSetError(f"{self.display(MANIFEST_FILE)}: {referenced_by} is missing; the manifest is "
                                     "incomplete — regenerate the set")
        safe = _safe_relative_path(relative)
        if safe is None:
            raise ExpressionSetError(f"{self.display(MANIFEST_FILE)}: {referenced_by} is {relative!r}, which is not "
                                     "a relative path inside the set")
        path = self.root / safe
        if not path.is_file():
            raise ExpressionSetError(f"{self.display(safe)} is missing (named by {referenced_by} in {MANIFEST_FILE}); "
                                     "the set is incomplete — copy it again or regenerate it")
        return path

    def relabel(self, error: ExpressionSetError) -> ExpressionSetError:
        """error with paths inside a zip's extraction folder replaced by the zip's name."""
        if not self.in_zip:
            return error
        return ExpressionSetError(str(error).replace(str(self.root), self.label))


def _read_folder(root: Path, label: str, in_zip: bool = False) -> ExpressionSet:
    files = _SetFiles(root, label, in_zip)
    # 1. Manifest, format and version.
    manifest = _read_manifest(files)
    _check_format(manifest, files)
    # 2. Base mesh, base texture, subject photo.
    base_mesh = _read_base_mesh(manifest, files)
    base_texture_path = files.path(manifest.get("base_texture"), "base_texture")
    texture_size = _png_size(base_texture_path, files)[:2]
    _check_subject_photo_file(manifest, files)
    # 3. Expressions, each checked against the base.
    records = manifest.get("expressions")
    if not isinstance(records, list) or not records:
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: the set has no expressions; regenerate it")
    expressions = [_read_expression(record, index, base_mesh, texture_size, files)
                   for index, record in enumerate(records)]
    names = [expression.name for expression in expressions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: expression names are repeated "
                                 f"({', '.join(duplicates)}); each must be unique")
    return ExpressionSet(root=root, manifest=manifest, base_mesh=base_mesh, base_texture_path=base_texture_path,
                         expressions=expressions)


def _read_manifest(files: _SetFiles) -> dict:
    path = files.root / MANIFEST_FILE
    if not path.is_file():
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)} is missing; {files.label} is not a PromptFace "
                                 "expression set (or it is incomplete)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)} is not valid JSON ({error}); "
                                 "the file is damaged — regenerate the set") from None
    if not isinstance(manifest, dict):
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: expected a JSON object at the top level")
    return manifest


def _check_format(manifest: dict, files: _SetFiles) -> None:
    where = files.display(MANIFEST_FILE)
    if manifest.get("format") != FORMAT_NAME:
        raise ExpressionSetError(f"{where}: format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}; "
                                 "this is not a PromptFace expression set")
    version = manifest.get("version")
    major = _major_version(version)
    if major is None:
        raise ExpressionSetError(f"{where}: version {version!r} is not a version number like {FORMAT_VERSION!r}")
    if major != SUPPORTED_MAJOR_VERSION:
        advice = "update PromptFace to read it" if major > SUPPORTED_MAJOR_VERSION else "regenerate the set"
        raise ExpressionSetError(f"{where}: format version {version} is not supported; this PromptFace reads "
                                 f"{FORMAT_NAME} version {SUPPORTED_MAJOR_VERSION}.x — {advice}")


def _major_version(version) -> int | None:
    if not isinstance(version, str):
        return None
    match = re.fullmatch(r"(\d+)(\.\d+)*", version.strip())
    return int(match.group(1)) if match else None


def _read_base_mesh(manifest: dict, files: _SetFiles) -> Mesh:
    topology = manifest.get("topology")
    if not isinstance(topology, dict):
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: 'topology' is missing or not an object")
    path = files.path(topology.get("base_mesh"), "topology.base_mesh")
    try:
        mesh = read_obj(path)
    except ExpressionSetError as error:
        raise files.relabel(error) from None
    where = files.display(path.relative_to(files.root).as_posix())
    for key, count in (("vertices", len(mesh.vertices)), ("faces", len(mesh.faces))):
        if key in topology and topology[key] != count:
            raise ExpressionSetError(f"{where} has {count} {key} but {MANIFEST_FILE} says {topology[key]}; "
                                     "the mesh does not belong to this set — regenerate it")
    if topology.get("uv", True) and not mesh.has_uvs:
        raise ExpressionSetError(f"{where} has no texture coordinates (vt) on its faces; the textures need them")
    return mesh


def _check_subject_photo_file(manifest: dict, files: _SetFiles) -> None:
    subject = manifest.get("subject")
    if not isinstance(subject, dict):
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: 'subject' is missing or not an object")
    path = files.path(subject.get("photo"), "subject.photo")
    expected = subject.get("sha256")
    if expected is not None and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise ExpressionSetError(f"{files.display(subject['photo'])} does not match the sha256 in {MANIFEST_FILE}; "
                                 "the photo was replaced or damaged — restore it or regenerate the set")


def _read_expression(record, index: int, base_mesh: Mesh, texture_size: tuple[int, int],
                     files: _SetFiles) -> Expression:
    where = files.display(MANIFEST_FILE)
    if not isinstance(record, dict):
        raise ExpressionSetError(f"{where}: expression {index} is not an object")
    name = record.get("name")
    if not isinstance(name, str) or not EXPRESSION_NAME_PATTERN.match(name):
        raise ExpressionSetError(f"{where}: expression {index} has name {name!r}; names are 1-64 characters "
                                 "of a-z, 0-9 and _")
    file_names = record.get("files")
    if not isinstance(file_names, dict):
        raise ExpressionSetError(f"{where}: expression {name!r} has no 'files' object")
    paths = {key: files.path(file_names.get(key), f"expression {name!r} files.{key}")
             for key in REQUIRED_EXPRESSION_FILES}
    if "obj" in file_names:
        files.path(file_names["obj"], f"expression {name!r} files.obj")
    vertices = _load_vertices(paths["vertices"], len(base_mesh.vertices), files)
    for key in ("texture", "mask"):
        size = _png_size(paths[key], files)[:2]
        if size != texture_size:
            raise ExpressionSetError(f"{files.display(file_names[key])} is {size[0]}x{size[1]} but the base texture "
                                     f"is {texture_size[0]}x{texture_size[1]}; regenerate the set")
    _png_size(paths["edited"], files)
    return Expression(name=name, prompt=str(record.get("prompt", "")), full_prompt=str(record.get("full_prompt", "")),
                      vertices=vertices, texture_path=paths["texture"], mask_path=paths["mask"],
                      edited_path=paths["edited"], record=record)


def _load_vertices(path: Path, vertex_count: int, files: _SetFiles) -> np.ndarray:
    """(V,3) float32 from a .npy file, refusing the wrong shape, a non-float dtype, NaN and inf."""
    where = files.display(path.relative_to(files.root).as_posix())
    try:
        vertices = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ExpressionSetError(f"{where} is not a readable .npy array ({error}); regenerate the set") from None
    if vertices.dtype.kind != "f":
        raise ExpressionSetError(f"{where} holds {vertices.dtype} values; expected float32 vertex positions")
    if vertices.shape != (vertex_count, 3):
        raise ExpressionSetError(f"{where} has shape {vertices.shape}, expected ({vertex_count}, 3) like the base "
                                 "mesh; it does not belong to this set — regenerate it")
    if not np.all(np.isfinite(vertices)):
        raise ExpressionSetError(f"{where} contains NaN or infinite positions; regenerate this expression")
    return vertices.astype(np.float32)


def _png_size(path: Path, files: _SetFiles) -> tuple[int, int, int]:
    try:
        return png_size(path)
    except ExpressionSetError as error:
        raise files.relabel(error) from None


# ---------------------------------------------------------------------------------------------------------------
# Zipping


def zip_expression_set(set_dir: str | PathLike, zip_path: str | PathLike) -> Path:
    """Zip a checked expression set folder (files at the top of the zip), atomically; returns zip_path."""
    set_dir, zip_path = Path(set_dir), Path(zip_path)
    read_expression_set(set_dir)  # refuse to package a set that readers would refuse
    members = sorted(path for path in set_dir.rglob("*") if path.is_file())
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    staging = _hidden_sibling(zip_path, "partial")
    try:
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member in members:
                # PNGs are deflated already: storing them saves the time and loses nothing.
                archive.write(member, member.relative_to(set_dir).as_posix(),
                              zipfile.ZIP_STORED if member.suffix == ".png" else zipfile.ZIP_DEFLATED)
        os.replace(staging, zip_path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return zip_path
