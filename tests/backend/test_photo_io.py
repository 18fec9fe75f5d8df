import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from skimage import data

from backend.errors import InputImageError
from backend.subject.photo_io import MAX_PIXELS, decode_photo, encode_png_bytes, load_photo

EXIF_ORIENTATION_TAG = 0x0112


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR (with a valid CRC) claims width x height: huge on paper, tiny in bytes."""
    png = bytearray(_encode(Image.new("RGB", (1, 1)), "PNG"))
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(png)


@pytest.fixture(scope="module")
def portrait(astronaut):
    """A non-square (512 high, 400 wide) piece of the astronaut, so rotations change the shape."""
    return np.ascontiguousarray(astronaut[:, :400])


def test_png_decodes_exactly(astronaut):
    decoded = decode_photo(encode_png_bytes(astronaut))
    assert decoded.shape == (512, 512, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, astronaut)


def test_jpeg_decodes_close_to_original(astronaut):
    decoded = decode_photo(_encode(Image.fromarray(astronaut), "JPEG", quality=95))
    assert decoded.shape == (512, 512, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - astronaut).mean() < 4


def test_load_photo_reads_a_file(tmp_path, astronaut):
    path = tmp_path / "face.png"
    path.write_bytes(encode_png_bytes(astronaut))
    np.testing.assert_array_equal(load_photo(path), astronaut)


def test_grey_photo_becomes_three_equal_channels(astronaut):
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    decoded = decode_photo(_encode(Image.fromarray(grey), "PNG"))
    assert decoded.shape == (512, 512, 3) and decoded.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(decoded[..., channel], grey)


def test_rgba_transparency_is_composited_on_white(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:, 256:, 3] = 0      # right half fully transparent
    rgba[:128, :256, 3] = 128  # top-left quarter half transparent
    decoded = decode_photo(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert decoded.shape == (512, 512, 3) and decoded.dtype == np.uint8
    assert (decoded[:, 256:] == 255).all()
    np.testing.assert_array_equal(decoded[128:, :256], astronaut[128:, :256])
    half = astronaut[:128, :256].astype(float) * 128 / 255 + 255 * 127 / 255
    assert np.abs(decoded[:128, :256] - half).max() <= 1.0


@pytest.mark.parametrize("orientation, quarter_turns", [(6, -1), (8, 1), (3, 2)], ids=["rot-cw", "rot-ccw", "rot-180"])
def test_png_exif_orientation_is_applied_exactly(portrait, orientation, quarter_turns):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    decoded = decode_photo(_encode(Image.fromarray(portrait), "PNG", exif=exif.tobytes()))
    np.testing.assert_array_equal(decoded, np.rot90(portrait, quarter_turns))


@pytest.mark.parametrize("orientation, quarter_turns", [(6, -1), (8, 1)], ids=["rot-cw", "rot-ccw"])
def test_jpeg_exif_orientation_is_applied(portrait, orientation, quarter_turns):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    decoded = decode_photo(_encode(Image.fromarray(portrait), "JPEG", quality=95, exif=exif.tobytes()))
    expected = np.rot90(portrait, quarter_turns)
    assert decoded.shape == expected.shape == (400, 512, 3)
    assert np.abs(decoded.astype(int) - expected).mean() < 4
    # Not merely "some" rotation: the opposite turn is far off.
    assert np.abs(decoded.astype(int) - np.rot90(portrait, -quarter_turns)).mean() > 20


def test_random_bytes_are_refused_naming_the_source():
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(InputImageError, match="holiday.jpg"):
        decode_photo(noise, source="holiday.jpg")


def test_truncated_jpeg_is_refused_naming_the_source(astronaut):
    jpeg = _encode(Image.fromarray(astronaut), "JPEG", quality=90)
    with pytest.raises(InputImageError, match="cut.jpg"):
        decode_photo(jpeg[:len(jpeg) // 2], source="cut.jpg")


def test_empty_bytes_are_refused():
    with pytest.raises(InputImageError, match="empty"):
        decode_photo(b"", source="nothing.png")


def test_missing_file_is_refused_naming_the_path(tmp_path):
    missing = tmp_path / "no_such_photo.jpg"
    with pytest.raises(InputImageError, match="no_such_photo.jpg"):
        load_photo(missing)


@pytest.mark.parametrize("width, height", [(10_000, 5_000), (20_000, 20_000)], ids=["50MP", "400MP"])
def test_huge_photo_is_refused_before_decoding(width, height):
    assert width * height > MAX_PIXELS
    data_bytes = _png_header_claiming(width, height)
    assert len(data_bytes) < 200  # decoding these pixels would need gigabytes; the header alone must decide
    with pytest.raises(InputImageError, match="megapixel") as error:
        decode_photo(data_bytes, source="huge.png")
    assert "huge.png" in str(error.value)


def test_tiny_photo_is_refused_mentioning_its_size():
    face = (data.lfw_subset()[0] * 255).astype(np.uint8)
    assert face.shape == (25, 25)
    with pytest.raises(InputImageError, match="25x25"):
        decode_photo(_encode(Image.fromarray(face), "PNG"), source="tiny.png")
