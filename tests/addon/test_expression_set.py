import hashlib
import json
import os
import zipfile

import numpy as np
import pytest

from addon.core import expression_set as expression_set_module
from addon.core.errors import ExpressionSetError
from addon.core.expression_set import (FORMAT_NAME, FORMAT_VERSION, ExpressionData, ExpressionSetBuilder,
                                       manifest_file_names, read_expression_set, write_expression_set,
                                       zip_expression_set)
from addon.core.obj_mesh import Mesh, read_obj
from addon.core.png import decode_png, encode_png

TEXTURE_HEIGHT, TEXTURE_WIDTH = 6, 8
PHOTO_BYTES = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes are bytes"


def _base_mesh():
    return Mesh(
        vertices=np.array([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0.01], [0, 0.1, 0]], dtype=np.float32),
        faces=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32),
        uvs=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32),
        face_uvs=np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32),
    )


def _image(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _expression(name, seed, **changes):
    base = _base_mesh().vertices
    fields = dict(
        name=name,
        prompt=f"{name} face",
        full_prompt=f"a person with a {name} face facial expression",
        vertices=base + np.float32(0.001 * seed),
        texture=_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), seed),
        mask=_image((TEXTURE_HEIGHT, TEXTURE_WIDTH), seed + 100),
        edited=_image((10, 9, 3), seed + 200),
        action_units={"AU12": 0.8} if name == "happy" else None,
        weights={"happy": 1.0} if name == "happy" else None,
        metrics={"ssim": 0.9 + 0.01 * seed, "identity": np.float32(0.75)},
        timings={"edit_s": 1.5 * seed},
        warnings=[f"warning {seed}"] if seed else [],
    )
    fields.update(changes)
    return ExpressionData(**fields)


def _arguments(**changes):
    arguments = dict(
        subject={"size": [640, 480], "face_box": [100, 80, 200, 240]},
        subject_photo=("subject.jpg", PHOTO_BYTES),
        engines={"editor": {"name": "warp", "version": "1"}, "reconstructor": {"name": "landmarks"}},
        base_mesh=_base_mesh(),
        base_texture=_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), 99),
        expressions=[_expression("neutral", 0), _expression("happy", 1), _expression("surprised", 2)],
    )
    arguments.update(changes)
    return arguments


@pytest.fixture
def written_set(tmp_path):
    return write_expression_set(tmp_path / "sets" / "alice", **_arguments())


def _edit_manifest(set_dir, change):
    path = set_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _assert_nothing_written(parent):
    """parent holds no set and no hidden temporary folder."""
    assert not parent.exists() or list(parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_keeps_every_field(tmp_path):
    arguments = _arguments(extra_files={"diagnostics/happy.heat.png": b"heat", "notes.txt": b"hello"})
    out_dir = write_expression_set(tmp_path / "alice", **arguments)
    assert out_dir == tmp_path / "alice"
    read = read_expression_set(out_dir)

    assert read.root == out_dir
    assert read.names() == ["neutral", "happy", "surprised"]
    manifest = read.manifest
    assert manifest["format"] == FORMAT_NAME and manifest["version"] == FORMAT_VERSION
    assert manifest["created"].endswith("+00:00")
    assert manifest["subject"] == {"size": [640, 480], "face_box": [100, 80, 200, 240], "photo": "subject.jpg",
                                   "sha256": hashlib.sha256(PHOTO_BYTES).hexdigest()}
    assert (out_dir / "subject.jpg").read_bytes() == PHOTO_BYTES
    assert manifest["engines"] == arguments["engines"]
    assert manifest["topology"] == {"base_mesh": "base.obj", "vertices": 4, "faces": 2, "uv": True}
    assert manifest["base_texture"] == "base_texture.png"

    base = arguments["base_mesh"]
    assert np.allclose(read.base_mesh.vertices, base.vertices, atol=1e-6)
    assert np.array_equal(read.base_mesh.faces, base.faces)
    assert np.array_equal(read.base_mesh.face_uvs, base.face_uvs)
    assert "map_Kd base_texture.png" in (out_dir / "base.mtl").read_text()
    assert np.array_equal(decode_png(read.base_texture_path.read_bytes()), arguments["base_texture"])

    for given, expression in zip(arguments["expressions"], read.expressions):
        assert expression.name == given.name
        assert expression.prompt == given.prompt and expression.full_prompt == given.full_prompt
        assert expression.vertices.dtype == np.float32
        assert np.array_equal(expression.vertices, given.vertices)
        assert np.array_equal(decode_png(expression.texture_path.read_bytes()), given.texture)
        assert np.array_equal(decode_png(expression.mask_path.read_bytes()), given.mask)
        assert np.array_equal(decode_png(expression.edited_path.read_bytes()), given.edited)
        record = expression.record
        assert record["action_units"] == given.action_units and record["weights"] == given.weights
        assert record["metrics"] == pytest.approx({key: float(value) for key, value in given.metrics.items()})
        assert record["timings"] == given.timings and record["warnings"] == given.warnings
        assert record["files"] == {"vertices": f"{given.name}.vertices.npy", "texture": f"{given.name}.texture.png",
                                   "mask": f"{given.name}.mask.png", "edited": f"{given.name}.edited.png"}
        assert not (out_dir / f"{given.name}.obj").exists()

    assert read.expression("happy").record["action_units"] == {"AU12": 0.8}
    assert (out_dir / "diagnostics" / "happy.heat.png").read_bytes() == b"heat"
    assert (out_dir / "notes.txt").read_bytes() == b"hello"
    assert [path.name for path in tmp_path.iterdir()] == ["alice"]  # no temporary folder left beside it


def test_expression_objs_on_request(tmp_path):
    out_dir = write_expression_set(tmp_path / "alice", **_arguments(), write_expression_objs=True)
    read = read_expression_set(out_dir)
    happy = read.expression("happy")
    assert happy.record["files"]["obj"] == "happy.obj"
    mesh = read_obj(out_dir / "happy.obj")
    assert np.allclose(mesh.vertices, happy.vertices, atol=1e-6)
    assert np.array_equal(mesh.faces, read.base_mesh.faces)
    assert "map_Kd happy.texture.png" in (out_dir / "happy.mtl").read_text()


def test_unknown_expression_name_lists_the_names(written_set):
    with pytest.raises(ExpressionSetError, match="'angry'.*neutral, happy, surprised"):
        read_expression_set(written_set).expression("angry")


def test_zip_round_trip(written_set, tmp_path):
    zip_path = zip_expression_set(written_set, tmp_path / "out" / "alice.zip")
    assert zip_path == tmp_path / "out" / "alice.zip"
    assert [path.name for path in zip_path.parent.iterdir()] == ["alice.zip"]
    with zipfile.ZipFile(zip_path) as archive:
        assert "manifest.json" in archive.namelist()

    from_folder = read_expression_set(written_set)
    from_zip = read_expression_set(zip_path)
    assert from_zip.names() == from_folder.names()
    assert from_zip.manifest == from_folder.manifest
    for a, b in zip(from_folder.expressions, from_zip.expressions):
        assert np.array_equal(a.vertices, b.vertices)
        assert a.texture_path.read_bytes() == b.texture_path.read_bytes()
        assert b.texture_path.is_relative_to(from_zip.root)
    extracted = from_zip.root
    assert extracted.is_dir() and not extracted.is_relative_to(tmp_path)
    from_zip.close()
    assert not extracted.exists()


def test_reads_a_zip_of_the_folder_itself(written_set, tmp_path):
    zip_path = tmp_path / "by_hand.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(written_set.rglob("*")):
            archive.write(path, f"alice/{path.relative_to(written_set).as_posix()}")
    assert read_expression_set(zip_path).names() == ["neutral", "happy", "surprised"]


def test_zip_refuses_a_folder_that_is_not_a_set(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(ExpressionSetError, match="manifest.json is missing"):
        zip_expression_set(tmp_path / "junk", tmp_path / "junk.zip")
    assert not (tmp_path / "junk.zip").exists()


# ---------------------------------------------------------------------------------------------------------------
# Growing a set one expression at a time (the live loop)


def _builder(out_dir, **changes):
    arguments = _arguments(**changes)
    del arguments["expressions"]
    return ExpressionSetBuilder(out_dir, **arguments, staging_dir=out_dir.parent / "partial")


def test_the_growing_set_is_valid_after_every_step(tmp_path):
    builder = _builder(tmp_path / "alice")
    builder.begin(_expression("neutral", 0))
    partial = tmp_path / "partial"
    assert read_expression_set(partial).names() == ["neutral"]
    builder.add(_expression("happy", 1))
    grown = read_expression_set(partial)
    assert grown.names() == ["neutral", "happy"] and builder.manifest() == grown.manifest
    assert sorted(manifest_file_names(grown.manifest)) == sorted(path.name for path in partial.iterdir())
    with pytest.raises(ExpressionSetError, match="repeated: happy"):
        builder.add(_expression("happy", 2))
    assert builder.finish() == tmp_path / "alice" and not partial.exists()
    assert read_expression_set(tmp_path / "alice").names() == ["neutral", "happy"]


def test_begin_writes_the_neutral_and_its_companions_under_one_manifest(tmp_path):
    """A reader of the growing set never sees the neutral without what calibration made with it."""
    builder = _builder(tmp_path / "bob")
    builder.begin(_expression("neutral", 0), _expression("as_photographed", 1))
    first = read_expression_set(tmp_path / "partial")
    assert first.names() == ["neutral", "as_photographed"] and builder.manifest() == first.manifest
    assert first.manifest["version"] == "1.1" and "reads_as" in first.expression("as_photographed").record


def test_the_builder_checks_before_it_writes(tmp_path):
    with pytest.raises(ExpressionSetError, match="plain file name"):
        _builder(tmp_path / "alice", subject_photo=("../x.jpg", PHOTO_BYTES))
    builder = _builder(tmp_path / "alice")
    with pytest.raises(ExpressionSetError, match="begin"):
        builder.add(_expression("happy", 1))
    with pytest.raises(ExpressionSetError, match="vertices"):
        builder.begin(_expression("neutral", 0, vertices=np.zeros((2, 3), np.float32)))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# Writer refusals: nothing is written


@pytest.mark.parametrize("changes, message", [
    ({"expressions": []}, "no expressions"),
    ({"expressions": [_expression("neutral", 0), _expression("neutral", 1)]}, "repeated: neutral"),
    ({"expressions": [_expression("Happy", 0)]}, "'Happy' must be 1-64 characters"),
    ({"expressions": [_expression("big-smile", 0)]}, "'big-smile'"),
    ({"expressions": [_expression("", 0)]}, "''"),
    ({"expressions": [_expression("a" * 65, 0)]}, "1-64 characters"),
    ({"expressions": [_expression("base", 0)]}, "'base' is reserved"),
    ({"expressions": [_expression("happy", 1, vertices=np.zeros((3, 3), np.float32))]}, "happy' vertices"),
    ({"expressions": [_expression("happy", 1, vertices=np.full((4, 3), np.nan, np.float32))]}, "NaN"),
    ({"expressions": [_expression("happy", 1, vertices=np.full((4, 3), 1e300))]}, "NaN or infinite"),
    ({"expressions": [_expression("happy", 1, texture=_image((6, 9, 3), 1))]}, "happy' texture"),
    ({"expressions": [_expression("happy", 1, texture=np.zeros((6, 8, 3), np.float32))]}, "texture is float32"),
    ({"expressions": [_expression("happy", 1, mask=_image((5, 8), 1))]}, "happy' mask"),
    ({"expressions": [_expression("happy", 1, edited=_image((10, 9), 1))]}, "happy' edited photo"),
    ({"expressions": [_expression("happy", 1, metrics={"ssim": float("nan")})]}, "happy' metrics"),
    ({"expressions": [_expression("happy", 1, timings={"edit": object()})]}, "happy' timings"),
    ({"expressions": [_expression("happy", 1, warnings="just one")]}, "warnings must be a list"),
    ({"expressions": [_expression("happy", 1, prompt=None)]}, "prompt must be a string"),
    ({"base_texture": _image((6, 8), 1)}, "base texture"),
    ({"base_mesh": Mesh(_base_mesh().vertices, _base_mesh().faces, np.zeros((0, 2), np.float32),
                        np.zeros((0, 3), np.int32))}, "no UVs"),
    ({"subject": {"size": [640, 480]}}, "face_box"),
    ({"subject_photo": ("../subject.jpg", PHOTO_BYTES)}, "plain file name"),
    ({"subject_photo": ("subject.jpg", b"")}, "empty"),
    ({"extra_files": {"../outside.txt": b"x"}}, "'../outside.txt' must be a relative path"),
    ({"extra_files": {"/etc/outside.txt": b"x"}}, "relative path"),
    ({"extra_files": {"diagnostics/../../x": b"x"}}, "relative path"),
    ({"extra_files": {"base.obj": b"x"}}, "would replace a file of the set"),
    ({"extra_files": {"subject.jpg": b"x"}}, "would replace"),
])
def test_writer_refuses_bad_input_before_writing(tmp_path, changes, message):
    parent = tmp_path / "sets"
    with pytest.raises(ExpressionSetError, match="Cannot write") as error:
        write_expression_set(parent / "alice", **_arguments(**changes))
    assert message in str(error.value)
    _assert_nothing_written(parent)


def test_existing_set_needs_overwrite(written_set):
    before = (written_set / "manifest.json").read_text()
    with pytest.raises(ExpressionSetError, match="exists; pass overwrite=True"):
        write_expression_set(written_set, **_arguments())
    assert (written_set / "manifest.json").read_text() == before


def test_overwrite_replaces_the_whole_set(written_set):
    (written_set / "stale.txt").write_text("from the old run")
    write_expression_set(written_set, **_arguments(expressions=[_expression("neutral", 0), _expression("sad", 3)]),
                         overwrite=True)
    assert read_expression_set(written_set).names() == ["neutral", "sad"]
    assert not (written_set / "stale.txt").exists() and not (written_set / "happy.texture.png").exists()
    assert [path.name for path in written_set.parent.iterdir()] == ["alice"]


def _fail_on_call(monkeypatch, function_name, failing_call):
    """Make expression_set.<function_name> raise on its failing_call-th call (1-based)."""
    original = getattr(expression_set_module, function_name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == failing_call:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(expression_set_module, function_name, failing)


def test_crash_mid_write_leaves_nothing(tmp_path, monkeypatch):
    _fail_on_call(monkeypatch, "encode_png", 5)  # base texture, then neutral's three images, then happy's texture
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_expression_set(tmp_path / "alice", **_arguments())
    _assert_nothing_written(tmp_path)


def test_crash_while_overwriting_keeps_the_old_set(written_set, monkeypatch):
    before = (written_set / "manifest.json").read_text()
    _fail_on_call(monkeypatch, "encode_png", 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_expression_set(written_set, **_arguments(), overwrite=True)
    assert (written_set / "manifest.json").read_text() == before
    assert [path.name for path in written_set.parent.iterdir()] == ["alice"]
    read_expression_set(written_set)


def test_failed_swap_restores_the_old_set(written_set, monkeypatch):
    before = (written_set / "manifest.json").read_text()
    real_rename = os.rename

    def rename(source, destination):
        if ".partial-" in str(source):  # the new set moving into place
            raise OSError("simulated rename failure")
        return real_rename(source, destination)

    monkeypatch.setattr(expression_set_module.os, "rename", rename)
    with pytest.raises(OSError, match="simulated rename failure"):
        write_expression_set(written_set, **_arguments(), overwrite=True)
    assert (written_set / "manifest.json").read_text() == before
    assert [path.name for path in written_set.parent.iterdir()] == ["alice"]


# ---------------------------------------------------------------------------------------------------------------
# Reader refusals: each names the file


def test_refuses_a_folder_without_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExpressionSetError, match="empty/manifest.json is missing"):
        read_expression_set(tmp_path / "empty")


def test_refuses_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(ExpressionSetError, match="nowhere.*no such expression set"):
        read_expression_set(tmp_path / "nowhere")


def test_refuses_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "set.zip").write_bytes(b"not a zip")
    with pytest.raises(ExpressionSetError, match="set.zip: not an expression set"):
        read_expression_set(tmp_path / "set.zip")


def test_refuses_invalid_json(written_set):
    (written_set / "manifest.json").write_text('{"format": "promptface.expressions", ')
    with pytest.raises(ExpressionSetError, match="manifest.json is not valid JSON"):
        read_expression_set(written_set)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(format="something.else"), "format is 'something.else'"),
    (lambda m: m.pop("format"), "format is None"),
    (lambda m: m.update(version="2.0"), "format version 2.0 is not supported; this PromptFace reads "
                                        "promptface.expressions version 1.x — update PromptFace"),
    (lambda m: m.update(version="0.9"), "regenerate the set"),
    (lambda m: m.update(version="one"), "'one' is not a version number"),
    (lambda m: m.update(expressions=[]), "no expressions"),
    (lambda m: m.pop("expressions"), "no expressions"),
    (lambda m: m["expressions"].append(dict(m["expressions"][1])), "repeated (happy)"),
    (lambda m: m["expressions"][1].update(name="Happy!"), "expression 1 has name 'Happy!'"),
    (lambda m: m["expressions"][1]["files"].update(texture="../../elsewhere.png"), "not a relative path"),
    (lambda m: m["expressions"][1]["files"].pop("mask"), "files.mask"),
    (lambda m: m["topology"].update(vertices=5), "base.obj has 4 vertices but manifest.json says 5"),
    (lambda m: m.pop("topology"), "'topology' is missing"),
])
def test_refuses_bad_manifests(written_set, change, message):
    _edit_manifest(written_set, change)
    with pytest.raises(ExpressionSetError, match="manifest.json|base.obj") as error:
        read_expression_set(written_set)
    assert message in str(error.value)


@pytest.mark.parametrize("file_name", ["happy.texture.png", "happy.mask.png", "happy.edited.png",
                                       "happy.vertices.npy", "base.obj", "base_texture.png", "subject.jpg"])
def test_refuses_a_missing_file(written_set, file_name):
    (written_set / file_name).unlink()
    with pytest.raises(ExpressionSetError, match=f"alice/{file_name} is missing"):
        read_expression_set(written_set)


def test_refuses_a_missing_optional_obj_it_names(tmp_path):
    out_dir = write_expression_set(tmp_path / "alice", **_arguments(), write_expression_objs=True)
    (out_dir / "surprised.obj").unlink()
    with pytest.raises(ExpressionSetError, match="surprised.obj is missing"):
        read_expression_set(out_dir)


@pytest.mark.parametrize("array, message", [
    (np.zeros((5, 3), np.float32), r"has shape \(5, 3\), expected \(4, 3\)"),
    (np.zeros((4, 2), np.float32), r"has shape \(4, 2\)"),
    (np.zeros((4, 3), np.int32), "holds int32 values"),
    (np.array([[0, 0, 0]] * 3 + [[0, np.nan, 0]], np.float32), "contains NaN or infinite"),
    (np.array([[0, 0, 0]] * 3 + [[0, np.inf, 0]], np.float64), "contains NaN or infinite"),
])
def test_refuses_bad_vertex_arrays(written_set, array, message):
    np.save(written_set / "happy.vertices.npy", array)
    with pytest.raises(ExpressionSetError, match=f"happy.vertices.npy {message}"):
        read_expression_set(written_set)


def test_accepts_float64_vertices_as_float32(written_set):
    np.save(written_set / "happy.vertices.npy", np.ones((4, 3), np.float64))
    vertices = read_expression_set(written_set).expression("happy").vertices
    assert vertices.dtype == np.float32 and np.all(vertices == 1)


def test_refuses_a_vertex_file_that_is_not_npy(written_set):
    (written_set / "happy.vertices.npy").write_bytes(b"garbage")
    with pytest.raises(ExpressionSetError, match="happy.vertices.npy is not a readable .npy"):
        read_expression_set(written_set)


@pytest.mark.parametrize("file_name", ["happy.texture.png", "surprised.mask.png"])
def test_refuses_a_png_of_another_size(written_set, file_name):
    channels = 3 if "texture" in file_name else 1
    (written_set / file_name).write_bytes(encode_png(_image((7, 8, channels), 5).squeeze()))
    with pytest.raises(ExpressionSetError, match=f"{file_name} is 8x7 but the base texture is 8x6"):
        read_expression_set(written_set)


def test_refuses_a_texture_that_is_not_png(written_set):
    (written_set / "happy.texture.png").write_bytes(b"\xff\xd8\xff\xe0 a jpeg really")
    with pytest.raises(ExpressionSetError, match="happy.texture.png: not a PNG"):
        read_expression_set(written_set)


def test_refuses_a_changed_subject_photo(written_set):
    (written_set / "subject.jpg").write_bytes(b"another photo")
    with pytest.raises(ExpressionSetError, match="subject.jpg does not match the sha256"):
        read_expression_set(written_set)


def test_refuses_a_quad_base_mesh(written_set):
    with open(written_set / "base.obj", "a") as file:
        file.write("f 1/1 2/2 3/3 4/4\n")
    with pytest.raises(ExpressionSetError, match="base.obj line .*4 corners"):
        read_expression_set(written_set)


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "alice/../../evil.txt"])
def test_refuses_zip_members_outside_the_set(written_set, tmp_path, member):
    zip_path = zip_expression_set(written_set, tmp_path / "alice.zip")
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr(member, b"evil")
    with pytest.raises(ExpressionSetError, match=f"alice.zip: member '{member}'"):
        read_expression_set(zip_path)


def test_zip_errors_name_the_zip_not_the_extraction_folder(written_set, tmp_path):
    (written_set / "happy.mask.png").write_bytes(encode_png(_image((3, 3), 1)))
    zip_path = tmp_path / "alice.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(written_set.rglob("*")):
            archive.write(path, path.relative_to(written_set).as_posix())
    with pytest.raises(ExpressionSetError) as error:
        read_expression_set(zip_path)
    assert f"{zip_path}/happy.mask.png is 3x3" in str(error.value)
    assert "promptface-set-" not in str(error.value)


def test_refuses_a_zip_without_manifest(tmp_path):
    zip_path = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("readme.txt", b"hello")
    with pytest.raises(ExpressionSetError, match="other.zip: no manifest.json"):
        read_expression_set(zip_path)


def test_promptface_inspect_summarises_a_set_and_refuses_a_broken_one(written_set, capsys):
    from addon.cli import main

    assert main(["inspect", str(written_set), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in summary["expressions"]] == read_expression_set(written_set).names()
    (written_set / "manifest.json").unlink()
    assert main(["inspect", str(written_set)]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err


def test_begin_refuses_a_companion_with_the_neutrals_name(tmp_path):
    builder = _builder(tmp_path / "carol")
    with pytest.raises(ExpressionSetError, match="repeated: neutral"):
        builder.begin(_expression("neutral", 0), _expression("neutral", 1))
    assert not (tmp_path / "partial").exists()  # nothing written
