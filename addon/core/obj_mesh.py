"""A triangle mesh with UVs, and Wavefront OBJ reading and writing for it.

Coordinates: metres, right-handed, +Y up, +Z towards the camera (see docs/design.md "Coordinates").
"""

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from .errors import ExpressionSetError


@dataclass
class Mesh:
    """A triangle mesh whose corners carry UVs."""

    vertices: np.ndarray
    """(V,3) float32 positions in metres, +Y up, +Z towards the camera."""
    faces: np.ndarray
    """(F,3) int32 vertex indices, one triangle per row."""
    uvs: np.ndarray
    """(T,2) float32 texture coordinates, OBJ convention (v up); (0,2) for a mesh without UVs."""
    face_uvs: np.ndarray
    """(F,3) int32 indices into uvs per triangle corner (equal to faces for per-vertex UVs); (0,3) without UVs."""

    @property
    def has_uvs(self) -> bool:
        return len(self.uvs) > 0 and self.face_uvs.shape == self.faces.shape


def check_mesh(mesh: Mesh) -> None:
    """Raise ValueError naming the first array of mesh with the wrong shape, dtype or index range."""
    vertices, faces, uvs, face_uvs = (np.asarray(a) for a in (mesh.vertices, mesh.faces, mesh.uvs, mesh.face_uvs))
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"mesh vertices must have shape (V,3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise ValueError(f"mesh faces must be integers of shape (F,3), got {faces.dtype} {faces.shape}")
    if uvs.ndim != 2 or uvs.shape[1] != 2:
        raise ValueError(f"mesh uvs must have shape (T,2), got {uvs.shape}")
    if face_uvs.shape not in (faces.shape, (0, 3)) or face_uvs.dtype.kind not in "iu":
        raise ValueError(f"mesh face_uvs must be integers of shape {faces.shape} like faces (or (0,3) without UVs), "
                         f"got {face_uvs.dtype} {face_uvs.shape}")
    if len(face_uvs) and not len(uvs):
        raise ValueError("mesh face_uvs index into uvs, but uvs is empty")
    _check_index_range("faces", faces, len(vertices))
    _check_index_range("face_uvs", face_uvs, len(uvs))


def _check_index_range(name: str, indices: np.ndarray, count: int) -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise ValueError(f"mesh {name} must index 0..{count - 1}, got {indices.min()}..{indices.max()}")


# ---------------------------------------------------------------------------------------------------------------
# Writing


def write_obj(path: str | PathLike, mesh: Mesh, material_name: str | None = None,
              texture_file: str | None = None) -> None:
    """Write mesh as OBJ, 1-based "f v/vt v/vt v/vt" faces, coordinates with 6 decimals.

    With a texture_file (a path relative to the OBJ, e.g. "base_texture.png") or a material_name, a .mtl file of the
    same stem is written beside it and referenced with mtllib/usemtl; the material maps texture_file as map_Kd.
    """
    check_mesh(mesh)
    path = Path(path)
    lines = [f"# PromptFace mesh: {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles\n"]
    if material_name is None and texture_file is not None:
        material_name = path.stem
    if material_name is not None:
        material_file = path.with_suffix(".mtl")
        material_file.write_text(_mtl_text(material_name, texture_file), encoding="utf-8")
        lines.append(f"mtllib {material_file.name}\n")
    lines.append(_rows_text("v", "%.6f", mesh.vertices))
    lines.append(_rows_text("vt", "%.6f", mesh.uvs))
    if material_name is not None:
        lines.append(f"usemtl {material_name}\n")
    lines.append(_faces_text(mesh))
    path.write_text("".join(lines), encoding="utf-8")


def _rows_text(keyword: str, number_format: str, rows: np.ndarray) -> str:
    """One "keyword n n n" line per row of a (N,D) array."""
    rows = np.asarray(rows)
    if not len(rows):
        return ""
    line = " ".join([keyword] + [number_format] * rows.shape[1]) + "\n"
    return (line * len(rows)) % tuple(rows.ravel().tolist())


def _faces_text(mesh: Mesh) -> str:
    """'f v/vt v/vt v/vt' lines (1-based), or 'f v v v' for a mesh without UVs."""
    faces = np.asarray(mesh.faces, dtype=np.int64) + 1
    if not mesh.has_uvs:
        return _rows_text("f", "%d", faces)
    corners = np.stack([faces, np.asarray(mesh.face_uvs, dtype=np.int64) + 1], axis=2)  # (F,3,2)
    return (("f %d/%d %d/%d %d/%d\n" * len(faces)) % tuple(corners.ravel().tolist())) if len(faces) else ""


def _mtl_text(material_name: str, texture_file: str | None) -> str:
    lines = [f"newmtl {material_name}\n", "Ka 0.000000 0.000000 0.000000\n", "Kd 1.000000 1.000000 1.000000\n",
             "Ks 0.000000 0.000000 0.000000\n", "d 1.0\n", "illum 1\n"]
    if texture_file is not None:
        lines.append(f"map_Kd {texture_file}\n")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Reading


def read_obj(path: str | PathLike) -> Mesh:
    """The triangle mesh in an OBJ file.

    Reads v, vt and f (corners as v, v/vt, v/vt/vn or v//vn; negative indices count back from the end).
    Ignores normals, objects, groups, smoothing, materials and comments. Raises ExpressionSetError naming the
    file and line for faces with more than three corners, bad numbers or indices out of range.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ExpressionSetError(f"{path}: cannot read the OBJ file ({error.strerror or error})") from error
    vertices, uvs, faces, face_uvs = [], [], [], []
    faces_without_uvs = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path} line {line_number}"
        if fields[0] == "v":
            vertices.append(_numbers(fields[1:4], 3, where))
        elif fields[0] == "vt":
            # "vt u" alone is legal OBJ; v then defaults to 0.
            uvs.append((_numbers(fields[1:3], 1, where) + [0.0])[:2])
        elif fields[0] == "f":
            corner_vertices, corner_uvs = _face_corners(fields[1:], len(vertices), len(uvs), where)
            faces.append(corner_vertices)
            if corner_uvs is None:
                faces_without_uvs += 1
            else:
                face_uvs.append(corner_uvs)
    if face_uvs and faces_without_uvs:
        raise ExpressionSetError(f"{path}: {faces_without_uvs} faces have UVs and {len(face_uvs)} do not; "
                                 "export the mesh with UVs on every face")
    return Mesh(
        vertices=np.array(vertices, dtype=np.float32).reshape(-1, 3),
        faces=np.array(faces, dtype=np.int32).reshape(-1, 3),
        uvs=np.array(uvs, dtype=np.float32).reshape(-1, 2),
        face_uvs=np.array(face_uvs, dtype=np.int32).reshape(-1, 3),
    )


def _numbers(fields: list[str], count: int, where: str) -> list[float]:
    if len(fields) < count:
        raise ExpressionSetError(f"{where}: expected {count} numbers, got {len(fields)}")
    try:
        return [float(field) for field in fields]
    except ValueError:
        raise ExpressionSetError(f"{where}: {' '.join(fields)!r} are not numbers") from None


def _face_corners(corners: list[str], vertex_count: int, uv_count: int,
                  where: str) -> tuple[list[int], list[int] | None]:
    """0-based vertex indices of a triangle, and its UV indices or None when the corners carry no UVs."""
    if len(corners) != 3:
        raise ExpressionSetError(f"{where}: the face has {len(corners)} corners; only triangles are supported — "
                                 "triangulate the mesh (e.g. Blender's Triangulate modifier) and export it again")
    vertex_indices, uv_indices = [], []
    for corner in corners:
        parts = corner.split("/")
        vertex_indices.append(_index(parts[0], vertex_count, "vertex", where))
        if len(parts) > 1 and parts[1]:
            uv_indices.append(_index(parts[1], uv_count, "texture coordinate", where))
    if uv_indices and len(uv_indices) != 3:
        raise ExpressionSetError(f"{where}: only some corners of the face have texture coordinates")
    return vertex_indices, (uv_indices or None)


def _index(field: str, count: int, what: str, where: str) -> int:
    """0-based index from a 1-based (or negative, relative) OBJ index, checked against the items read so far."""
    try:
        index = int(field)
    except ValueError:
        raise ExpressionSetError(f"{where}: {field!r} is not a {what} index") from None
    resolved = index - 1 if index > 0 else count + index
    if index == 0 or not 0 <= resolved < count:
        raise ExpressionSetError(f"{where}: {what} index {index} is out of range (only {count} read so far)")
    return resolved
