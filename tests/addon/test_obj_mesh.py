import numpy as np
import pytest

from addon.core.errors import ExpressionSetError
from addon.core.obj_mesh import Mesh, read_obj, write_obj


def _square_mesh():
    """Two triangles of a unit square in the XY plane, with seam-style UVs (5 UVs for 4 vertices)."""
    return Mesh(
        vertices=np.array([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0.02], [0, 0.1, -0.0123456]], dtype=np.float32),
        faces=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32),
        uvs=np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=np.float32),
        face_uvs=np.array([[0, 1, 2], [4, 2, 3]], dtype=np.int32),
    )


def test_round_trip(tmp_path):
    mesh = _square_mesh()
    path = tmp_path / "square.obj"
    write_obj(path, mesh)
    read = read_obj(path)
    assert read.vertices.dtype == np.float32 and read.faces.dtype == np.int32
    assert read.uvs.dtype == np.float32 and read.face_uvs.dtype == np.int32
    assert np.allclose(read.vertices, mesh.vertices, atol=1e-6)
    assert np.array_equal(read.faces, mesh.faces)
    assert np.allclose(read.uvs, mesh.uvs, atol=1e-6)
    assert np.array_equal(read.face_uvs, mesh.face_uvs)
    assert not (tmp_path / "square.mtl").exists()


def test_written_text_is_one_based_with_six_decimals(tmp_path):
    path = tmp_path / "square.obj"
    write_obj(path, _square_mesh())
    lines = path.read_text().splitlines()
    assert "v 0.000000 0.100000 -0.012346" in lines
    assert "vt 0.500000 0.500000" in lines
    assert [line for line in lines if line.startswith("f ")] == ["f 1/1 2/2 3/3", "f 1/5 3/3 4/4"]
    assert not any(line.startswith(("mtllib", "usemtl")) for line in lines)


def test_texture_writes_a_material_beside_the_obj(tmp_path):
    path = tmp_path / "face.obj"
    write_obj(path, _square_mesh(), material_name="skin", texture_file="face_texture.png")
    lines = path.read_text().splitlines()
    assert "mtllib face.mtl" in lines and "usemtl skin" in lines
    material = (tmp_path / "face.mtl").read_text().splitlines()
    assert "newmtl skin" in material and "map_Kd face_texture.png" in material
    assert np.array_equal(read_obj(path).faces, _square_mesh().faces)  # material lines are ignored on reading


def test_reads_every_corner_form_and_ignores_the_rest(tmp_path):
    path = tmp_path / "other_tool.obj"
    path.write_text("\n".join([
        "# exported by another tool",
        "mtllib other.mtl",
        "o Face",
        "v 0 0 0",
        "v 1 0 0 1.0",
        "v 1 1 0",
        "v 0 1 0",
        "vt 0 0",
        "vt 1 0 0",
        "vt 1 1",
        "vt 0.25",
        "vn 0 0 1",
        "g skin",
        "usemtl skin",
        "s 1",
        "f 1/1/1 2/2/1 3/3/1",
        "f -4/-4/1 -2/-2 -1/-1/1",
        "",
    ]))
    mesh = read_obj(path)
    assert mesh.vertices.shape == (4, 3) and mesh.uvs.shape == (4, 2)
    assert np.array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])
    assert np.array_equal(mesh.face_uvs, [[0, 1, 2], [0, 2, 3]])
    assert np.allclose(mesh.uvs[3], [0.25, 0.0])


def test_reads_faces_without_uvs(tmp_path):
    path = tmp_path / "plain.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//1\nf 3 2 1\n")
    mesh = read_obj(path)
    assert np.array_equal(mesh.faces, [[0, 1, 2], [2, 1, 0]])
    assert mesh.uvs.shape == (0, 2) and mesh.face_uvs.shape == (0, 3)
    assert not mesh.has_uvs


def test_writes_and_reads_a_mesh_without_uvs(tmp_path):
    square = _square_mesh()
    mesh = Mesh(square.vertices, square.faces, np.zeros((0, 2), np.float32), np.zeros((0, 3), np.int32))
    write_obj(tmp_path / "plain.obj", mesh)
    assert "f 1 2 3" in (tmp_path / "plain.obj").read_text().splitlines()
    assert np.array_equal(read_obj(tmp_path / "plain.obj").faces, square.faces)


@pytest.mark.parametrize("lines, message", [
    (["f 1/1 2/2 3/3 4/4"], "line 9: the face has 4 corners; only triangles"),
    (["f 1 2 3 4 1"], "line 9: the face has 5 corners"),
    (["f 1/1 2/2 9/3"], "line 9: vertex index 9 is out of range"),
    (["f 1/7 2/2 3/3"], "line 9: texture coordinate index 7 is out of range"),
    (["f 0 1 2"], "line 9: vertex index 0"),
    (["f 1/1 2 3/3"], "line 9: only some corners"),
    (["f 1/1 2/2 3/3", "f 1 3 4"], "1 faces have UVs and 1 do not"),
    (["v 1 two 3"], "line 9: '1 two 3' are not numbers"),
    (["v 1 2"], "line 9: expected 3 numbers"),
    (["f a b c"], "line 9: 'a' is not a vertex index"),
])
def test_refuses_what_it_cannot_read(tmp_path, lines, message):
    path = tmp_path / "bad.obj"
    header = ["# header", "v 0 0 0", "v 1 0 0", "v 1 1 0", "v 0 1 0", "vt 0 0", "vt 1 0", "vt 1 1"]
    path.write_text("\n".join(header + lines) + "\n")
    with pytest.raises(ExpressionSetError, match="bad.obj") as error:
        read_obj(path)
    assert message in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ExpressionSetError, match="absent.obj"):
        read_obj(tmp_path / "absent.obj")


@pytest.mark.parametrize("change", [
    lambda m: Mesh(m.vertices[:, :2], m.faces, m.uvs, m.face_uvs),
    lambda m: Mesh(m.vertices, m.faces + 3, m.uvs, m.face_uvs),
    lambda m: Mesh(m.vertices, m.faces.astype(np.float32), m.uvs, m.face_uvs),
    lambda m: Mesh(m.vertices, m.faces, m.uvs, m.face_uvs[:1]),
    lambda m: Mesh(m.vertices, m.faces, m.uvs[:2], m.face_uvs),
])
def test_write_refuses_inconsistent_meshes(tmp_path, change):
    write_obj(tmp_path / "good.obj", _square_mesh())
    with pytest.raises(ValueError, match="mesh"):
        write_obj(tmp_path / "bad.obj", change(_square_mesh()))
    assert not (tmp_path / "bad.obj").exists()
