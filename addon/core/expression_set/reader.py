"""Reading a set, from its folder or a zip of it: every referenced file is checked and anything inconsistent is
refused, naming the file as the user has it (inside the zip too)."""
import hashlib
import json
import re
import tempfile
import zipfile
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import ExpressionSetError
from ..obj_mesh import Mesh, read_obj
from ..png import png_size
from ..arkit import check_arkit_weights
from .data import Expression, ExpressionSet, Rig, RigShape
from .format import (EXPRESSION_NAME_PATTERN, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, REQUIRED_EXPRESSION_FILES,
                     RIG_KINDS, RIG_SHAPE_NAME_PATTERN, SUPPORTED_MAJOR_VERSION, safe_relative_path)


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
                if safe_relative_path(name.rstrip("/")) is None:
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
        safe = safe_relative_path(relative)
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
    # 4. The rig (format 1.2), when the set has one.
    rig = _read_rig(manifest["rig"], base_mesh, texture_size, files) if manifest.get("rig") is not None else None
    for expression in expressions:
        _check_weights(expression.record.get("arkit_weights") or {}, f"expression {expression.name!r} arkit_weights",
                       files)
    return ExpressionSet(root=root, manifest=manifest, base_mesh=base_mesh, base_texture_path=base_texture_path,
                         expressions=expressions, rig=rig)


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


def _read_rig(record, base_mesh: Mesh, texture_size: tuple[int, int], files: _SetFiles) -> Rig:
    where = files.display(MANIFEST_FILE)
    if not isinstance(record, dict) or record.get("kind") not in RIG_KINDS:
        kind = record.get("kind") if isinstance(record, dict) else record
        raise ExpressionSetError(f"{where}: rig kind {kind!r} is not one this PromptFace reads "
                                 f"({', '.join(RIG_KINDS)}); update PromptFace")
    shapes = record.get("shapes")
    if not isinstance(shapes, list) or not shapes:
        raise ExpressionSetError(f"{where}: the rig has no shapes; regenerate the set")
    read = [_read_rig_shape(shape, index, base_mesh, texture_size, files) for index, shape in enumerate(shapes)]
    names = [shape.name for shape in read]
    if len(set(names)) != len(names):
        raise ExpressionSetError(f"{where}: rig shape names are repeated; each must be unique")
    poses = record.get("poses") or {}
    if not isinstance(poses, dict):
        raise ExpressionSetError(f"{where}: rig poses must be an object of {{pose: {{shape: weight}}}}")
    return Rig(kind=record["kind"], shapes=read,
               poses={pose: _check_weights(weights, f"rig pose {pose!r}", files) for pose, weights in poses.items()})


def _read_rig_shape(record, index: int, base_mesh: Mesh, texture_size: tuple[int, int], files: _SetFiles) -> RigShape:
    where = files.display(MANIFEST_FILE)
    name = record.get("name") if isinstance(record, dict) else None
    if not isinstance(name, str) or not RIG_SHAPE_NAME_PATTERN.match(name):
        raise ExpressionSetError(f"{where}: rig shape {index} has name {name!r}; names are a letter then up to 63 "
                                 "letters, digits or _")
    file_names = record.get("files")
    if not isinstance(file_names, dict) or "vertices" not in file_names:
        raise ExpressionSetError(f"{where}: rig shape {name!r} has no 'files' object with its vertices")
    vertices = _load_vertices(files.path(file_names["vertices"], f"rig shape {name!r} files.vertices"),
                              len(base_mesh.vertices), files)
    images = {}
    for key in ("texture", "mask"):
        if key in file_names:
            images[key] = files.path(file_names[key], f"rig shape {name!r} files.{key}")
            size = _png_size(images[key], files)[:2]
            if size != texture_size:
                raise ExpressionSetError(f"{files.display(file_names[key])} is {size[0]}x{size[1]} but the base "
                                         f"texture is {texture_size[0]}x{texture_size[1]}; regenerate the set")
    if len(images) == 1:
        raise ExpressionSetError(f"{where}: rig shape {name!r} names a texture or a mask without the other")
    return RigShape(name=name, vertices=vertices, texture_path=images.get("texture"), mask_path=images.get("mask"),
                    record=record)


def _check_weights(weights, what: str, files: _SetFiles) -> dict[str, float]:
    if not isinstance(weights, dict):
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: {what} must be an object of {{shape: weight}}")
    try:
        return check_arkit_weights(weights, what)
    except ValueError as error:
        raise ExpressionSetError(f"{files.display(MANIFEST_FILE)}: {error}; regenerate the set") from None


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
