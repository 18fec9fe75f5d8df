"""Writing an expression set (addon/core/expression_set/writer.py): what is written reads back whole, a growing set is
valid after every step, bad input is refused before anything is written, and a crash leaves the old set or nothing."""
import hashlib
import os

import numpy as np
import pytest
from PIL import Image  # tests only: an independent PNG decoder

from addon.core.errors import ExpressionSetError
from addon.core.expression_set import (FORMAT_NAME, FORMAT_VERSION, ExpressionSetBuilder, manifest_file_names,
                                       read_expression_set, write_expression_set)
from addon.core.expression_set import writer as writer_module
from addon.core.obj_mesh import Mesh, read_obj
from expression_set_samples import (PHOTO_BYTES, assert_nothing_written, sample_arguments, sample_expression,
                                    sample_image, sample_mesh, write_sample_set)


@pytest.fixture
def written_set(tmp_path):
    return write_sample_set(tmp_path)


def decoded(path):
    return np.asarray(Image.open(path))


# ---------------------------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_keeps_every_field(tmp_path):
    arguments = sample_arguments(extra_files={"diagnostics/happy.heat.png": b"heat", "notes.txt": b"hello"})
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
    assert np.array_equal(decoded(read.base_texture_path), arguments["base_texture"])

    for given, expression in zip(arguments["expressions"], read.expressions, strict=True):
        assert expression.name == given.name
        assert expression.prompt == given.prompt and expression.full_prompt == given.full_prompt
        assert expression.vertices.dtype == np.float32
        assert np.array_equal(expression.vertices, given.vertices)
        assert np.array_equal(decoded(expression.texture_path), given.texture)
        assert np.array_equal(decoded(expression.mask_path), given.mask)
        assert np.array_equal(decoded(expression.edited_path), given.edited)
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
    out_dir = write_expression_set(tmp_path / "alice", **sample_arguments(), write_expression_objs=True)
    read = read_expression_set(out_dir)
    happy = read.expression("happy")
    assert happy.record["files"]["obj"] == "happy.obj"
    mesh = read_obj(out_dir / "happy.obj")
    assert np.allclose(mesh.vertices, happy.vertices, atol=1e-6)
    assert np.array_equal(mesh.faces, read.base_mesh.faces)
    assert "map_Kd happy.texture.png" in (out_dir / "happy.mtl").read_text()



# ---------------------------------------------------------------------------------------------------------------
# Growing a set one expression at a time (the live loop)


def _builder(out_dir, **changes):
    arguments = sample_arguments(**changes)
    del arguments["expressions"]
    return ExpressionSetBuilder(out_dir, **arguments, staging_dir=out_dir.parent / "partial")


def test_the_growing_set_is_valid_after_every_step(tmp_path):
    builder = _builder(tmp_path / "alice")
    builder.begin(sample_expression("neutral", 0))
    partial = tmp_path / "partial"
    assert read_expression_set(partial).names() == ["neutral"]
    builder.add(sample_expression("happy", 1))
    grown = read_expression_set(partial)
    assert grown.names() == ["neutral", "happy"] and builder.manifest() == grown.manifest
    assert sorted(manifest_file_names(grown.manifest)) == sorted(path.name for path in partial.iterdir())
    with pytest.raises(ExpressionSetError, match="repeated: happy"):
        builder.add(sample_expression("happy", 2))
    assert builder.finish() == tmp_path / "alice" and not partial.exists()
    assert read_expression_set(tmp_path / "alice").names() == ["neutral", "happy"]


def test_begin_writes_the_neutral_and_its_companions_under_one_manifest(tmp_path):
    """A reader of the growing set never sees the neutral without what calibration made with it."""
    builder = _builder(tmp_path / "bob")
    builder.begin(sample_expression("neutral", 0), sample_expression("as_photographed", 1))
    first = read_expression_set(tmp_path / "partial")
    assert first.names() == ["neutral", "as_photographed"] and builder.manifest() == first.manifest
    assert first.manifest["version"] == "1.2" and "reads_as" in first.expression("as_photographed").record


def test_the_builder_checks_before_it_writes(tmp_path):
    with pytest.raises(ExpressionSetError, match="plain file name"):
        _builder(tmp_path / "alice", subject_photo=("../x.jpg", PHOTO_BYTES))
    builder = _builder(tmp_path / "alice")
    with pytest.raises(ExpressionSetError, match="begin"):
        builder.add(sample_expression("happy", 1))
    with pytest.raises(ExpressionSetError, match="vertices"):
        builder.begin(sample_expression("neutral", 0, vertices=np.zeros((2, 3), np.float32)))
    assert list(tmp_path.iterdir()) == []


def test_begin_refuses_a_companion_with_the_neutrals_name(tmp_path):
    builder = _builder(tmp_path / "carol")
    with pytest.raises(ExpressionSetError, match="repeated: neutral"):
        builder.begin(sample_expression("neutral", 0), sample_expression("neutral", 1))
    assert not (tmp_path / "partial").exists()  # nothing written


# ---------------------------------------------------------------------------------------------------------------
# Writer refusals: nothing is written


@pytest.mark.parametrize("changes, message", [
    ({"expressions": []}, "no expressions"),
    ({"expressions": [sample_expression("neutral", 0), sample_expression("neutral", 1)]}, "repeated: neutral"),
    ({"expressions": [sample_expression("Happy", 0)]}, "'Happy' must be 1-64 characters"),
    ({"expressions": [sample_expression("big-smile", 0)]}, "'big-smile'"),
    ({"expressions": [sample_expression("", 0)]}, "''"),
    ({"expressions": [sample_expression("a" * 65, 0)]}, "1-64 characters"),
    ({"expressions": [sample_expression("base", 0)]}, "'base' is reserved"),
    ({"expressions": [sample_expression("happy", 1, vertices=np.zeros((3, 3), np.float32))]}, "happy' vertices"),
    ({"expressions": [sample_expression("happy", 1, vertices=np.full((4, 3), np.nan, np.float32))]}, "NaN"),
    ({"expressions": [sample_expression("happy", 1, vertices=np.full((4, 3), 1e300))]}, "NaN or infinite"),
    ({"expressions": [sample_expression("happy", 1, texture=sample_image((6, 9, 3), 1))]}, "happy' texture"),
    ({"expressions": [sample_expression("happy", 1, texture=np.zeros((6, 8, 3), np.float32))]}, "texture is float32"),
    ({"expressions": [sample_expression("happy", 1, mask=sample_image((5, 8), 1))]}, "happy' mask"),
    ({"expressions": [sample_expression("happy", 1, edited=sample_image((10, 9), 1))]}, "happy' edited photo"),
    ({"expressions": [sample_expression("happy", 1, metrics={"ssim": float("nan")})]}, "happy' metrics"),
    ({"expressions": [sample_expression("happy", 1, timings={"edit": object()})]}, "happy' timings"),
    ({"expressions": [sample_expression("happy", 1, warnings="just one")]}, "warnings must be a list"),
    ({"expressions": [sample_expression("happy", 1, prompt=None)]}, "prompt must be a string"),
    ({"base_texture": sample_image((6, 8), 1)}, "base texture"),
    ({"base_mesh": Mesh(sample_mesh().vertices, sample_mesh().faces, np.zeros((0, 2), np.float32),
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
        write_expression_set(parent / "alice", **sample_arguments(**changes))
    assert message in str(error.value)
    assert_nothing_written(parent)


def test_existing_set_needs_overwrite(written_set):
    before = (written_set / "manifest.json").read_text()
    with pytest.raises(ExpressionSetError, match="exists; pass overwrite=True"):
        write_expression_set(written_set, **sample_arguments())
    assert (written_set / "manifest.json").read_text() == before


def test_overwrite_replaces_the_whole_set(written_set):
    (written_set / "stale.txt").write_text("from the old run")
    expressions = [sample_expression("neutral", 0), sample_expression("sad", 3)]
    write_expression_set(written_set, **sample_arguments(expressions=expressions), overwrite=True)
    assert read_expression_set(written_set).names() == ["neutral", "sad"]
    assert not (written_set / "stale.txt").exists() and not (written_set / "happy.texture.png").exists()
    assert [path.name for path in written_set.parent.iterdir()] == ["alice"]


def _fail_on_call(monkeypatch, function_name, failing_call):
    """Make writer.<function_name> raise on its failing_call-th call (1-based)."""
    original = getattr(writer_module, function_name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == failing_call:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(writer_module, function_name, failing)


def test_crash_mid_write_leaves_nothing(tmp_path, monkeypatch):
    _fail_on_call(monkeypatch, "encode_png", 5)  # base texture, then neutral's three images, then happy's texture
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_expression_set(tmp_path / "alice", **sample_arguments())
    assert_nothing_written(tmp_path)


def test_crash_while_overwriting_keeps_the_old_set(written_set, monkeypatch):
    before = (written_set / "manifest.json").read_text()
    _fail_on_call(monkeypatch, "encode_png", 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_expression_set(written_set, **sample_arguments(), overwrite=True)
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

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="simulated rename failure"):
        write_expression_set(written_set, **sample_arguments(), overwrite=True)
    assert (written_set / "manifest.json").read_text() == before
    assert [path.name for path in written_set.parent.iterdir()] == ["alice"]

