"""Format 1.2: a set with an ARKit rig (52 shapes, textures where they change the skin, named poses) and each
expression's ARKit weights — written, read back, refused when inconsistent, and left alone by a 1.x reader."""
import json

import numpy as np
import pytest

from addon.core.arkit import ARKIT_SHAPES, VISEMES
from addon.core.errors import ExpressionSetError
from addon.core.expression_set import (RigData, RigShapeData, manifest_file_names, read_expression_set,
                                       write_expression_set)
from expression_set_samples import (TEXTURE_HEIGHT, TEXTURE_WIDTH, assert_nothing_written, edit_manifest,
                                    sample_arguments, sample_expression, sample_image, sample_mesh)


def sample_rig(**changes) -> RigData:
    base = sample_mesh().vertices
    shapes = []
    for index, name in enumerate(ARKIT_SHAPES):
        textured = name in ("mouthSmileLeft", "tongueOut")
        shapes.append(RigShapeData(
            name=name, vertices=base + np.float32(0.0001 * (index + 1)),
            texture=sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), index) if textured else None,
            mask=sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH), index + 7) if textured else None,
            recipe={"action_units": {"AU12": 1.0}} if name == "mouthSmileLeft" else {}))
    fields = dict(kind="arkit", shapes=shapes, poses=dict(VISEMES))
    fields.update(changes)
    return RigData(**fields)


def rigged_arguments(**changes):
    expressions = [sample_expression("neutral", 0, arkit_weights={}, arkit_fit={"mean_mm": 0.0, "max_mm": 0.0}),
                   sample_expression("happy", 1, arkit_weights={"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9},
                                     arkit_fit={"mean_mm": 0.2, "max_mm": 1.1})]
    return sample_arguments(**{"expressions": expressions, "rig": sample_rig(), **changes})


def test_a_rig_is_written_and_read_back(tmp_path):
    arguments = rigged_arguments()
    read = read_expression_set(write_expression_set(tmp_path / "set", **arguments))
    assert read.manifest["version"] == "1.2"
    assert read.rig.kind == "arkit" and read.rig.names() == list(ARKIT_SHAPES)
    smile = read.rig.shapes[ARKIT_SHAPES.index("mouthSmileLeft")]
    written = arguments["rig"].shapes[ARKIT_SHAPES.index("mouthSmileLeft")]
    np.testing.assert_array_equal(smile.vertices, written.vertices)
    assert smile.texture_path.name == "rig.mouthSmileLeft.texture.png" and smile.mask_path.is_file()
    assert smile.record["recipe"] == {"action_units": {"AU12": 1.0}}
    blink = read.rig.shapes[0]
    assert blink.name == "eyeBlinkLeft" and blink.texture_path is None and blink.mask_path is None
    assert read.rig.poses["viseme_aa"] == VISEMES["viseme_aa"]
    happy = read.expression("happy")
    assert happy.arkit_weights == {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9}
    assert happy.record["arkit_fit"] == {"mean_mm": 0.2, "max_mm": 1.1}
    # The rig's files are what a server hands out of the set, so a client downloads them.
    names = manifest_file_names(read.manifest)
    assert "rig.eyeBlinkLeft.vertices.npy" in names and "rig.tongueOut.mask.png" in names


def test_a_set_without_a_rig_reads_as_before(tmp_path):
    read = read_expression_set(write_expression_set(tmp_path / "set", **sample_arguments()))
    assert read.rig is None and read.expression("happy").arkit_weights == {}
    assert "rig" not in read.manifest and "arkit_weights" not in read.expression("happy").record


def test_a_1_1_reader_sees_the_same_expressions(tmp_path):
    """What an older reader uses (the expression list and its files) is unchanged by the rig: the shapes are not
    expressions, and no expression file name is taken."""
    rigged = json.loads((write_expression_set(tmp_path / "a", **rigged_arguments()) / "manifest.json").read_text())
    plain = json.loads((write_expression_set(tmp_path / "b", **sample_arguments(
        expressions=rigged_arguments()["expressions"])) / "manifest.json").read_text())
    assert [record["name"] for record in rigged["expressions"]] == ["neutral", "happy"]
    assert [record["files"] for record in rigged["expressions"]] == [record["files"] for record in plain["expressions"]]
    assert all(name.startswith("rig.") for shape in rigged["rig"]["shapes"] for name in shape["files"].values())


@pytest.mark.parametrize("rig, message", [
    (lambda: sample_rig(kind="faceit"), "rig kind 'faceit'"),
    (lambda: sample_rig(shapes=sample_rig().shapes[:51]), "missing tongueOut"),
    (lambda: sample_rig(shapes=sample_rig().shapes[::-1]), "the order differs"),
    (lambda: sample_rig(poses={"viseme_aa": {"jawOpen": 1.5}}), "weight of jawOpen must be a number from 0 to 1"),
    (lambda: sample_rig(poses={"viseme_aa": {"mouthOpen": 0.5}}), "'mouthOpen' is not one of the 52"),
])
def test_a_bad_rig_is_refused_before_anything_is_written(tmp_path, rig, message):
    with pytest.raises(ExpressionSetError, match=message):
        write_expression_set(tmp_path / "out" / "set", **rigged_arguments(rig=rig()))
    assert_nothing_written(tmp_path / "out")


def test_a_shape_with_a_texture_but_no_mask_is_refused(tmp_path):
    rig = sample_rig()
    rig.shapes[0].texture = sample_image((TEXTURE_HEIGHT, TEXTURE_WIDTH, 3), 1)
    with pytest.raises(ExpressionSetError, match="rig shape 'eyeBlinkLeft' needs both a texture and a mask"):
        write_expression_set(tmp_path / "out" / "set", **rigged_arguments(rig=rig))


def test_expression_weights_out_of_range_are_refused(tmp_path):
    expressions = [sample_expression("neutral", 0), sample_expression("happy", 1, arkit_weights={"jawOpen": -0.1})]
    with pytest.raises(ExpressionSetError, match="expression 'happy' arkit_weights: the weight of jawOpen"):
        write_expression_set(tmp_path / "out" / "set", **sample_arguments(expressions=expressions))


@pytest.mark.parametrize("change, message", [
    (lambda manifest: manifest["rig"].update(kind="metahuman"), "rig kind 'metahuman' is not one this PromptFace"),
    (lambda manifest: manifest["rig"]["shapes"][3]["files"].update(vertices="gone.npy"), "gone.npy is missing"),
    (lambda manifest: manifest["expressions"][1].update(arkit_weights={"jawOpen": 2}), "the weight of jawOpen"),
    (lambda manifest: manifest["rig"]["shapes"][0].update(name="eye blink"), "rig shape 0 has name 'eye blink'"),
])
def test_a_damaged_rig_is_named_when_read(tmp_path, change, message):
    folder = write_expression_set(tmp_path / "set", **rigged_arguments())
    edit_manifest(folder, change)
    with pytest.raises(ExpressionSetError, match=message):
        read_expression_set(folder)
