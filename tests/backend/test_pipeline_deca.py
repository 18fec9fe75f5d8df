"""`generate --editor warp --reconstructor deca` on the sample photo, with a synthetic DECA folder.

The synthetic networks have random weights (the real ones are licensed and cannot be here), so this checks the
wiring and the identity lock, not how faithful the faces are.
"""
import numpy as np
import pytest

from addon.core.errors import PromptFaceError
from addon.core.expression_set import read_expression_set
from addon.core.png import png_size
from backend.engines import Engines
from backend.pipeline import PipelineOptions, prepare_subject, generate_expressions


@pytest.fixture(scope="module")
def engines(deca_folder):
    return Engines.load("warp", "deca", deca_folder=deca_folder)


def test_the_pipeline_writes_a_flame_expression_set_with_the_identity_locked(engines, astronaut_png, tmp_path,
                                                                             monkeypatch):
    deca = engines.reconstructor_for("deca").deca
    reconstructed = []
    original = deca.reconstruct

    def recording(identity, edited, landmarks_px=None):
        reconstructed.append(original(identity, edited, landmarks_px))
        return reconstructed[-1]

    monkeypatch.setattr(deca, "reconstruct", recording)
    options = PipelineOptions(reconstructor="deca")
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines, options)
    prompts = ["calm", "happy", "AU26:1"]  # calm: no action units, so the neutral photo itself
    path = generate_expressions(prepared, prompts, tmp_path / "set", engines, options)

    expression_set = read_expression_set(path)
    base = expression_set.base_mesh
    assert base.vertices.shape == (5023, 3) and base.faces.shape == (9976, 3) and base.uvs.shape == (5118, 2)
    assert expression_set.manifest["engines"]["reconstructor"]["name"] == "deca"
    assert png_size(expression_set.base_texture_path) == (256, 256, 3)
    vertices = {expression.name: expression.vertices for expression in expression_set.expressions}
    assert list(vertices) == ["neutral", "as_photographed", "calm", "happy", "au26"]
    np.testing.assert_allclose(vertices["neutral"], base.vertices, atol=1e-6)  # base.obj is text: 6 decimals
    # The identity lock: each expression keeps the neutral's shape, albedo, camera, light and global pose; only the
    # expression code and jaw come from the edited photo, and the set holds exactly those vertices.
    identity = prepared.base.state.codes
    assert len(reconstructed) == 4  # the photo as taken (her smile, removed from the neutral), then the prompts
    for name, result in zip(["as_photographed", "calm", "happy", "au26"], reconstructed, strict=True):
        for code in ("shape", "tex", "cam", "light"):
            assert getattr(result.codes, code).equal(getattr(identity, code)), (name, code)
        assert result.codes.pose[:, :3].equal(identity.pose[:, :3])
        np.testing.assert_array_equal(vertices[name], result.vertices)
    # The neutral photo through the lock gives the neutral back; an opened jaw does not.
    np.testing.assert_allclose(vertices["calm"], base.vertices, atol=1e-5)
    assert np.abs(vertices["au26"] - base.vertices).max() > 5e-5  # 5× calm's tolerance (random DECA weights)


def test_deca_without_its_files_names_each_one(tmp_path):
    (tmp_path / "deca").mkdir()
    with pytest.raises(PromptFaceError) as error:
        Engines.load("warp", "deca", deca_folder=tmp_path / "deca")
    for name in ("deca_model.tar", "generic_model.pkl", "head_template.obj"):
        assert name in str(error.value)


@pytest.mark.slow
def test_generate_with_deca_from_the_command_line(deca_folder, tmp_path):
    """The folder comes from $PROMPTFACE_DECA_FOLDER, as for commands other tools start (animate, the panel)."""
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "set"
    result = subprocess.run([sys.executable, "-m", "backend.cli", "generate", "--sample", "astronaut", "happy",
                             "--editor", "warp", "--reconstructor", "deca", "--out", str(out), "--json"],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PROMPTFACE_DECA_FOLDER": str(deca_folder)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [entry["name"] for entry in summary["expressions"]] == ["neutral", "as_photographed", "happy"]
    assert read_expression_set(out).base_mesh.vertices.shape == (5023, 3)


def test_diffedit_and_deca_together(deca_folder, astronaut_png, tmp_path):
    """The thesis' GPU pipeline, both engines (tiny random SD, synthetic DECA): DiffEdit keeps the framing, so DECA
    reads each edited photo through the neutral's crop."""
    from backend.editors.diffedit_settings import DiffEditSettings
    from backend.bench.random_diffusion import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny_sd")
    settings = DiffEditSettings(model=str(model), steps=4, resolution=128, maps_per_mask=3, device="cpu",
                                dtype="float32")
    engines = Engines.load("diffedit", "deca", diffedit=settings, deca_folder=deca_folder)
    options = PipelineOptions(editor="diffedit", reconstructor="deca")
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines, options)
    path = generate_expressions(prepared, ["happy", "surprised"], tmp_path / "set", engines, options)
    manifest = read_expression_set(path).manifest
    assert (manifest["engines"]["editor"]["name"], manifest["engines"]["reconstructor"]["name"]) == ("diffedit", "deca")
    assert [entry["metrics"]["landmarks_source"] for entry in manifest["expressions"][2:]] == ["neutral crop"] * 2


@pytest.mark.slow  # about a minute on 2 cores: DECA's random-weight networks and 50 FLAME solves on the CPU
def test_the_arkit_rig_on_flame_is_52_solved_flame_poses(engines, astronaut_png, tmp_path):
    """The FLAME → ARKit conversion on the synthetic FLAME files: 52 shapes in FLAME's topology, each with its FLAME
    parameters; jawOpen is met by opening the jaw, eyeLookOutLeft turns only the subject's left eyeball."""
    options = PipelineOptions(reconstructor="deca", rig="arkit")
    prepared = prepare_subject(astronaut_png, "astronaut.png", engines, options)
    expression_set = read_expression_set(generate_expressions(prepared, ["happy"], tmp_path / "set", engines,
                                                              options))
    rig = expression_set.rig
    assert rig.names()[:2] == ["eyeBlinkLeft", "eyeLookDownLeft"] and len(rig.names()) == 52
    shapes = {shape.name: shape for shape in rig.shapes}
    assert all(shape.vertices.shape == (5023, 3) and shape.texture_path is None for shape in rig.shapes)
    jaw = shapes["jawOpen"].record["recipe"]["flame"]
    assert jaw["jaw_pose"][0] > 0.01  # FLAME opens the mouth by turning the jaw joint about +x
    base = expression_set.base_mesh.vertices
    moved = np.linalg.norm(shapes["eyeLookOutLeft"].vertices - base, axis=1)
    eye_weights = engines.reconstructor_for("deca").deca.flame.lbs_weights.numpy()
    left_eye, right_eye = eye_weights[:, 3] > 0.5, eye_weights[:, 4] > 0.5
    assert moved[left_eye].mean() > 1e-4 and moved[right_eye].max() < 1e-6
    assert "arkit_weights" in expression_set.expression("happy").record
