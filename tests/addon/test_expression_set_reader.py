"""Reading an expression set (addon/core/expression_set/reader.py), from its folder or a zip: each refusal names the
file as the user has it."""
import json
import zipfile

import numpy as np
import pytest

from addon.core.errors import ExpressionSetError
from addon.core.expression_set import read_expression_set, write_expression_set, zip_expression_set
from addon.core.png import encode_png
from expression_set_samples import edit_manifest, sample_arguments, sample_image, write_sample_set


@pytest.fixture
def written_set(tmp_path):
    return write_sample_set(tmp_path)


def test_unknown_expression_name_lists_the_names(written_set):
    with pytest.raises(ExpressionSetError, match="'angry'.*neutral, happy, surprised"):
        read_expression_set(written_set).expression("angry")


def test_reads_a_zip_of_the_folder_itself(written_set, tmp_path):
    zip_path = tmp_path / "by_hand.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(written_set.rglob("*")):
            archive.write(path, f"alice/{path.relative_to(written_set).as_posix()}")
    assert read_expression_set(zip_path).names() == ["neutral", "happy", "surprised"]



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
    edit_manifest(written_set, change)
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
    out_dir = write_expression_set(tmp_path / "alice", **sample_arguments(), write_expression_objs=True)
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
    (written_set / file_name).write_bytes(encode_png(sample_image((7, 8, channels), 5).squeeze()))
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
    (written_set / "happy.mask.png").write_bytes(encode_png(sample_image((3, 3), 1)))
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
