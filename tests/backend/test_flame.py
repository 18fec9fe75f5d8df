"""FLAME: loading generic_model.pkl without chumpy, the LBS maths, landmarks; on synthetic files with the released
keys, shapes and pickle format (backend/bench/synthetic_deca.py)."""
import pickle
import pickletools
import sys
import types

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from backend.bench.synthetic_deca import write_flame_pickle
from backend.deca.assets import load_landmark_embedding
from backend.flame import lbs
from backend.flame.assets import FLAME_MODEL, FlameFilesError, load_flame, load_flame_pickle
from backend.flame.flame_model import FlameModel

JAW, LEFT_EYE = 2, 3


def zero_codes(model, batch=1):
    return (torch.zeros(batch, model.shape_components), torch.zeros(batch, model.expression_components),
            torch.zeros(batch, 6))


# ---------------------------------------------------------------------------------------------------------------
# Loading


def test_the_synthetic_pickle_is_made_like_flames(flame_files):
    """Protocol 2, chumpy classes referenced by module and name, objects restored through BUILD (__setstate__)."""
    data = (flame_files / FLAME_MODEL).read_bytes()
    assert data[:2] == b"\x80\x02"
    opcodes = {op.name for op, _, _ in pickletools.genops(data)}
    assert {"NEWOBJ", "BUILD"} <= opcodes
    assert b"chumpy.ch\nCh" in data and b"chumpy.reordering\nSelect" in data
    assert "chumpy" not in sys.modules, "the stand-in must be gone: the loader works without chumpy"


def test_flame_pickle_loads_without_chumpy(flame_files, synthetic):
    fields = load_flame_pickle(flame_files / FLAME_MODEL)
    np.testing.assert_array_equal(fields["v_template"], synthetic.v_template)
    np.testing.assert_array_equal(fields["shapedirs"], synthetic.shapedirs)
    np.testing.assert_array_equal(fields["J_regressor"], synthetic.j_regressor)  # scipy csc → dense
    # J is a chumpy Select: a.ravel()[idxs].reshape(preferred_shape)
    np.testing.assert_allclose(fields["J"], synthetic.j_regressor @ synthetic.v_template, atol=1e-15)
    assert fields["bs_style"] == "lbs"


def test_chumpy_objects_of_a_stand_in_made_here_load(tmp_path, monkeypatch):
    """A second, independent chumpy stand-in: Ch keeps its array under 'x' among other state; Select of a Select."""
    package, ch_module, reordering = (types.ModuleType(name) for name in ("chumpy", "chumpy.ch", "chumpy.reordering"))

    class Ch:
        def __init__(self, x):
            self.x = x

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": set(), "_itr": None, "label": "x"}

    class Select:
        def __init__(self, a, idxs, preferred_shape):
            self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape

    for cls, module in ((Ch, ch_module), (Select, reordering)):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    for module in (package, ch_module, reordering):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    values = np.arange(12.0)
    inner = Select(Ch(values), np.array([11, 10, 9, 8, 7, 6]), (6,))
    data = pickle.dumps({"ch": Ch(values.reshape(3, 4)), "nested": Select(inner, np.array([0, 2, 4, 5]), (2, 2))},
                        protocol=2)
    monkeypatch.delitem(sys.modules, "chumpy")
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy.reordering")
    path = tmp_path / FLAME_MODEL
    path.write_bytes(data)
    fields = load_flame_pickle(path)
    np.testing.assert_array_equal(fields["ch"], values.reshape(3, 4))
    np.testing.assert_array_equal(fields["nested"], [[11, 9], [7, 6]])


def test_flame_arrays_have_the_released_shapes(flame):
    assert flame.v_template.shape == (5023, 3)
    assert flame.shapedirs.shape == (5023, 3, 400)
    assert flame.posedirs.shape == (5023, 3, 36)
    assert flame.j_regressor.shape == (5, 5023)
    assert flame.weights.shape == (5023, 5)
    assert flame.faces.shape == (9976, 3)
    assert flame.parents.tolist() == [-1, 0, 1, 1, 1]


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):  # eval, not print: a test run that imported Ray has replaced builtins.print
            return (eval, ("'this must not run'",))

    path = tmp_path / FLAME_MODEL
    path.write_bytes(pickle.dumps({"v_template": Exploit()}, protocol=2))
    with pytest.raises(FlameFilesError, match=r"builtin_*\.eval"):
        load_flame_pickle(path)


def test_a_flame_pickle_without_a_field_names_it(tmp_path, synthetic):
    path = tmp_path / FLAME_MODEL
    write_flame_pickle(path, synthetic)
    fields = load_flame_pickle(path)
    del fields["posedirs"]
    path.write_bytes(pickle.dumps(fields, protocol=2))
    with pytest.raises(FlameFilesError, match="posedirs"):
        load_flame(path)


# ---------------------------------------------------------------------------------------------------------------
# Maths


def test_rodrigues_matches_scipy_and_is_exact_at_zero():
    rotvecs = np.random.default_rng(0).normal(size=(20, 3))
    ours = lbs.rodrigues(torch.tensor(rotvecs))
    np.testing.assert_allclose(ours.numpy(), Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-12)
    assert torch.equal(lbs.rodrigues(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))


def test_zero_pose_and_codes_give_the_template(model, flame):
    output = model(*zero_codes(model))
    np.testing.assert_allclose(output.vertices[0].numpy(), flame.v_template, atol=1e-6)
    np.testing.assert_allclose(output.joints[0].numpy(), flame.j_regressor @ flame.v_template, atol=1e-6)


def test_a_jaw_rotation_moves_only_jaw_weighted_vertices(model, flame):
    shape, expression, pose = zero_codes(model)
    pose[0, 3] = 0.3  # open the jaw: rotation about x
    moved = np.linalg.norm(model(shape, expression, pose).vertices[0].numpy() - flame.v_template, axis=1)
    jaw_weighted = flame.weights[:, JAW] > 0
    assert moved[~jaw_weighted].max() < 1e-6
    assert (moved[flame.weights[:, JAW] > 0.5] > 1e-3).all()


def test_a_global_rotation_rotates_everything_rigidly(model, flame):
    shape, expression, pose = zero_codes(model)
    rotvec = np.array([0.2, -0.5, 0.1])
    pose[0, :3] = torch.tensor(rotvec)
    vertices = model(shape, expression, pose).vertices[0].numpy()
    root = flame.j_regressor[0] @ flame.v_template
    expected = (flame.v_template - root) @ Rotation.from_rotvec(rotvec).as_matrix().T + root
    np.testing.assert_allclose(vertices, expected, atol=1e-6)


def test_shape_and_expression_codes_add_their_directions(model, flame):
    rng = np.random.default_rng(1)
    shape = rng.normal(size=(1, 100))
    expression = rng.normal(size=(1, 50))
    output = model(torch.tensor(shape, dtype=torch.float32), torch.tensor(expression, dtype=torch.float32),
                   torch.zeros(1, 6))
    expected = (flame.v_template + flame.shapedirs[:, :, :100] @ shape[0]
                + flame.shapedirs[:, :, 300:350] @ expression[0])
    np.testing.assert_allclose(output.vertices[0].numpy(), expected, atol=1e-6)


def test_short_codes_are_zero_padded_and_long_ones_refused(model):
    shape, expression, pose = zero_codes(model)
    shape[0, :10] = 0.5
    full = model(shape, expression, pose).vertices
    short = model(shape[:, :10], expression[:, :5], pose).vertices
    assert torch.equal(full, short)
    with pytest.raises(ValueError, match="shape codes"):
        model(torch.zeros(1, 101), expression, pose)


def test_more_components_when_asked(flame, flame_files):
    embedding = load_landmark_embedding(flame_files / "landmark_embedding.npy")
    full = FlameModel(flame, embedding, shape_components=300, expression_components=100)
    expression = torch.zeros(1, 100)
    expression[0, 99] = 1.0
    vertices = full(torch.zeros(1, 300), expression, torch.zeros(1, 6)).vertices[0].numpy()
    np.testing.assert_allclose(vertices, flame.v_template + flame.shapedirs[:, :, 399], atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Landmarks


def _distance_to_surface(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(L,) distance from each point to the nearest triangle whose interior its projection falls in."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    distances = []
    for point in points:
        height = ((point - a) * normal).sum(axis=1)
        foot = point - height[:, None] * normal
        inside = np.ones(len(faces), dtype=bool)
        for p, q in ((a, b), (b, c), (c, a)):
            inside &= (np.cross(q - p, foot - p) * normal).sum(axis=1) >= -1e-12
        distances.append(np.abs(height[inside]).min() if inside.any() else np.inf)
    return np.array(distances)


def test_landmarks_sit_on_the_posed_surface(model, flame):
    torch.manual_seed(0)
    output = model(torch.randn(1, 100), torch.randn(1, 50), torch.tensor([[0.1, 0.3, 0.0, 0.2, 0.0, 0.0]]))
    vertices = output.vertices[0].double().numpy()
    for landmarks in (output.landmarks2d, output.landmarks3d):
        assert landmarks.shape == (1, 68, 3)
        assert _distance_to_surface(landmarks[0].double().numpy(), vertices, flame.faces).max() < 1e-6


def test_a_frontal_head_uses_contour_row_zero(model):
    # The synthetic embedding stores contour row 0 + the static points as its full 68 points.
    output = model(*zero_codes(model))
    torch.testing.assert_close(output.landmarks2d, output.landmarks3d)


@pytest.mark.parametrize("yaw_degrees, row", [(0, 0), (20, 20), (39, 39), (60, 39), (-1, 40), (-20, 59),
                                              (-39, 78), (-60, 78)])
def test_the_contour_row_follows_the_head_yaw(yaw_degrees, row):
    rotations = torch.eye(3).repeat(1, 5, 1, 1)
    rotations[0, 0] = torch.tensor(Rotation.from_euler("y", yaw_degrees, degrees=True).as_matrix(),
                                   dtype=torch.float32)
    assert lbs.contour_rows(rotations).tolist() == [row]


def test_the_neck_turn_counts_towards_the_yaw():
    rotations = torch.eye(3).repeat(1, 5, 1, 1)
    half = torch.tensor(Rotation.from_euler("y", 10, degrees=True).as_matrix(), dtype=torch.float32)
    rotations[0, 0] = half
    rotations[0, 1] = half
    assert lbs.contour_rows(rotations).tolist() == [20]
