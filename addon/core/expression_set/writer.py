"""Writing a set: everything is checked first, then the set grows in a hidden sibling folder that is renamed into
place, so a crash never leaves a half-written set. `ExpressionSetBuilder` grows a set one expression at a time; its
folder is a valid set after every step (the live loop reads it while a job runs)."""
import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path

import numpy as np

from ..atomic_files import hidden_sibling, move_folder_into_place, staged_file
from ..obj_mesh import Mesh, write_obj
from ..png import encode_png
from .data import ExpressionData, RigData
from .format import (BASE_MATERIAL_FILE, BASE_MESH_FILE, BASE_TEXTURE_FILE, FORMAT_NAME, FORMAT_VERSION,
                     MANIFEST_FILE, expression_file_names, rig_shape_file_names)
from .writer_checks import (cannot_write, check_base, check_destination, check_expression_list, check_subject_photo,
                            checked_expression, checked_extra_files, checked_rig)


def write_expression_set(out_dir: str | PathLike, *, subject: dict, subject_photo: tuple[str, bytes], engines: dict,
                         base_mesh: Mesh, base_texture: np.ndarray, expressions: list[ExpressionData],
                         extra_files: dict[str, bytes] | None = None, write_expression_objs: bool = False,
                         overwrite: bool = False, rig: RigData | None = None) -> Path:
    """Write a complete expression set to out_dir, atomically, and return out_dir.

    subject: at least "size" [w,h] and "face_box" [x,y,w,h] of the photo; "photo" and "sha256" are added.
    subject_photo: (file name, bytes) of the neutral photo. extra_files: relative path -> bytes (diagnostics).
    rig: the subject's rig (format 1.2), written with the neutral.
    Everything is checked before anything is written. If out_dir exists it is replaced only with overwrite=True.
    """
    out_dir = Path(out_dir)
    # 1. Check the inputs; nothing touches the disk before this is done.
    builder = ExpressionSetBuilder(out_dir, subject=subject, subject_photo=subject_photo, engines=engines,
                                   base_mesh=base_mesh, base_texture=base_texture,
                                   write_expression_objs=write_expression_objs, overwrite=overwrite)
    check_expression_list(expressions, out_dir)
    expressions = [builder.check(data) for data in expressions]
    builder.check_extra_files(extra_files or {}, expressions)
    # 2. Grow the set in a hidden sibling folder, then rename it into place.
    try:
        builder.begin(expressions[0], rig=rig)
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
    files are written before manifest.json is replaced (temporary name + rename), so a reader never sees a
    manifest that names a missing file. finish() renames the folder to out_dir; abandon() removes it.
    """

    def __init__(self, out_dir: str | PathLike, *, subject: dict, subject_photo: tuple[str, bytes], engines: dict,
                 base_mesh: Mesh, base_texture: np.ndarray, write_expression_objs: bool = False,
                 overwrite: bool = False, staging_dir: str | PathLike | None = None,
                 png_encoder: Callable[[np.ndarray], bytes] | None = None):
        """Checks the destination, photo, base and manifest header; writes nothing. png_encoder turns a uint8 image
        into PNG bytes: addon.core.png's by default (pure Python, as Blender runs it); a writer with a faster one
        (the backend has OpenCV's) passes it."""
        self.out_dir = Path(out_dir)
        check_destination(self.out_dir, overwrite)
        self.staging_dir = Path(staging_dir) if staging_dir else hidden_sibling(self.out_dir, "partial")
        self._photo_name, self._photo_bytes = check_subject_photo(subject_photo, self.out_dir)
        check_base(base_mesh, base_texture, self.out_dir)
        self._base_mesh, self._base_texture = base_mesh, base_texture
        self._with_objs, self._overwrite = write_expression_objs, overwrite
        self._manifest = _manifest(subject, self._photo_name, self._photo_bytes, engines, base_mesh, self.out_dir)
        self._expressions: list[ExpressionData] = []
        self._started = False
        self._encode_png = png_encoder or encode_png

    def check(self, expression: ExpressionData) -> ExpressionData:
        """expression with float32 vertices, after checking it against the base and the names already added
        (its manifest entry is built too, so values that JSON cannot hold are refused here)."""
        data = checked_expression(expression, self._base_mesh, self._base_texture, self.out_dir)
        if data.name in {added.name for added in self._expressions}:
            raise cannot_write(self.out_dir, f"expression names must be unique; repeated: {data.name}")
        _expression_record(data, self._with_objs, self.out_dir)
        return data

    def check_extra_files(self, extra_files: dict[str, bytes], expressions: list[ExpressionData]) -> dict[str, bytes]:
        """extra_files (relative path -> bytes) checked not to escape the set nor replace one of its files."""
        generated = _generated_file_names(expressions, self._with_objs) | {self._photo_name}
        return checked_extra_files(extra_files, generated, self.out_dir)

    def begin(self, neutral: ExpressionData, *also: ExpressionData, rig: RigData | None = None) -> None:
        """Create staging_dir (it must not exist) with the photo, base mesh, base texture, the neutral (and the
        expressions in `also`, and the rig) and then the manifest: from here on the folder is a valid set, with all
        of them."""
        if self._started:
            raise cannot_write(self.out_dir, "begin() was already called")
        neutral, also = self.check(neutral), [self.check(expression) for expression in also]
        check_expression_list([neutral, *also], self.out_dir)  # unique among themselves (nothing is added yet)
        rig = checked_rig(rig, self._base_mesh, self._base_texture, self.out_dir) if rig else None
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
        if rig:
            self._manifest["rig"] = _write_rig(self.staging_dir, rig, self._encode_png, self.out_dir)
        self._write_manifest()

    def add(self, expression: ExpressionData) -> None:
        """Write one more expression's files, then the manifest that lists it."""
        if not self._started:
            raise cannot_write(self.out_dir, "call begin() with the neutral first")
        self._write_files(self.check(expression))
        self._write_manifest()

    def manifest(self) -> dict:
        """A copy of the manifest as it is on disk now."""
        return json.loads(json.dumps(self._manifest))

    def finish(self, extra_files: dict[str, bytes] | None = None) -> Path:
        """Write extra_files (relative path -> bytes, e.g. diagnostics) and rename the set to out_dir
        (an existing out_dir is replaced only with overwrite=True); returns out_dir."""
        if not self._started:
            raise cannot_write(self.out_dir, "the set has no expressions yet")
        for relative, data in self.check_extra_files(extra_files or {}, self._expressions).items():
            target = self.staging_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if self.out_dir.exists():  # it may have appeared since the builder checked
            check_destination(self.out_dir, self._overwrite)
        move_folder_into_place(self.staging_dir, self.out_dir)
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
        with staged_file(self.staging_dir / MANIFEST_FILE) as staging:
            staging.write_text(text, encoding="utf-8")


def _write_expression_files(folder: Path, expression: ExpressionData, base_mesh: Mesh, with_obj: bool,
                            encode: Callable[[np.ndarray], bytes], texture_png: bytes | None = None) -> None:
    """encode: the PNG encoder; texture_png: the texture already encoded (the neutral's is usually the base
    texture)."""
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


def _write_rig(folder: Path, rig: RigData, encode: Callable[[np.ndarray], bytes], out_dir: Path) -> dict:
    """Write every shape's files; returns the manifest's "rig" record."""
    shapes = []
    for shape in rig.shapes:
        files = rig_shape_file_names(shape.name, with_texture=shape.texture is not None)
        with open(folder / files["vertices"], "wb") as file:
            np.save(file, shape.vertices.astype(np.float32), allow_pickle=False)
        if shape.texture is not None:
            (folder / files["texture"]).write_bytes(encode(shape.texture))
            (folder / files["mask"]).write_bytes(encode(shape.mask))
        shapes.append({"name": shape.name, "files": files,
                       "recipe": _json_ready(shape.recipe, f"rig shape {shape.name!r} recipe", out_dir)})
    return {"kind": rig.kind, "shapes": shapes, "poses": rig.poses}


def _generated_file_names(expressions: list[ExpressionData], with_objs: bool) -> set[str]:
    names = {MANIFEST_FILE, BASE_MESH_FILE, BASE_MATERIAL_FILE, BASE_TEXTURE_FILE}
    for expression in expressions:
        names.update(expression_file_names(expression.name, with_objs).values())
        if with_objs:
            names.add(f"{expression.name}.mtl")
    return names


# ---------------------------------------------------------------------------------------------------------------
# The manifest


def _manifest(subject: dict, photo_name: str, photo_bytes: bytes, engines: dict, base_mesh: Mesh,
              out_dir: Path) -> dict:
    """The manifest of a set with no expressions yet."""
    if not isinstance(subject, dict) or "size" not in subject or "face_box" not in subject:
        raise cannot_write(out_dir, "subject must be a dict with at least 'size' [w,h] and 'face_box' [x,y,w,h]")
    if not isinstance(engines, dict):
        raise cannot_write(out_dir, f"engines must be a dict, got {type(engines)}")
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
        "expressions": [],
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
        **({"arkit_weights": expression.arkit_weights} if expression.arkit_weights is not None else {}),
        **({"arkit_fit": _json_ready(expression.arkit_fit, f"{what} arkit_fit", out_dir)}
           if expression.arkit_fit is not None else {}),
    }


def _json_ready(value, what: str, out_dir: Path):
    """value as plain JSON types (numpy scalars and arrays become numbers and lists); refuses NaN and objects."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_numpy_to_json))
    except (TypeError, ValueError) as error:
        raise cannot_write(out_dir, f"{what} cannot be stored as JSON ({error}); use plain numbers, strings, lists "
                                    "and dicts, and None instead of NaN") from None


def _numpy_to_json(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
