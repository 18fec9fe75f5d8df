import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image  # tests only: an independent PNG decoder

from addon.core.errors import ExpressionSetError
from addon.core.png import encode_png, png_size


def _test_image(height, width, channels, seed=0):
    """Smooth gradients plus noise, so that encoders pick different filters on different rows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 3 + y) % 256, (np.sin(x / 5.0) * 60 + y * 2 + 100), rng.integers(0, 256, (height, width)),
              (x * y) % 256]
    image = np.stack(planes[:channels], axis=-1).astype(np.uint8)
    return image[:, :, 0] if channels == 1 else image


def _decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def _chunks(data):
    """(type, payload) of each chunk of PNG bytes."""
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
    return chunks


def _filter_types(data, height):
    raw = zlib.decompress(b"".join(payload for kind, payload in _chunks(data) if kind == b"IDAT"))
    row_bytes = len(raw) // height
    return {raw[row * row_bytes] for row in range(height)}


def test_one_pixel_and_one_row_images_read_back():
    for image in (np.array([[7]], dtype=np.uint8), _test_image(1, 50, 3), _test_image(50, 1, 4)):
        assert np.array_equal(_decoded(encode_png(image)), image)


@pytest.mark.parametrize("channels, mode", [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
def test_encoded_png_reads_in_another_decoder(channels, mode):
    image = _test_image(40, 33, channels)
    decoded = Image.open(io.BytesIO(encode_png(image)))
    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), image)


def test_encoder_chooses_filters_per_row():
    image = _test_image(64, 64, 3)
    assert len(_filter_types(encode_png(image), 64)) > 1
    assert _filter_types(encode_png(image), 64) <= {0, 1, 2}


def test_png_size_from_bytes_and_path(tmp_path):
    data = encode_png(_test_image(12, 34, 4))
    assert png_size(data) == (34, 12, 4)
    path = tmp_path / "image.png"
    path.write_bytes(encode_png(_test_image(5, 6, 1)))
    assert png_size(path) == (6, 5, 1)
    assert png_size(str(path)) == (6, 5, 1)


def test_png_size_refuses_other_files(tmp_path):
    with pytest.raises(ExpressionSetError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(40))
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))
    with pytest.raises(ExpressionSetError, match="photo.jpg: not a PNG"):
        png_size(path)
    with pytest.raises(ExpressionSetError, match="truncated"):
        png_size(encode_png(_test_image(4, 4, 3))[:20])
    with pytest.raises(ExpressionSetError, match="missing.png"):
        png_size(tmp_path / "missing.png")


@pytest.mark.parametrize("image", [
    np.zeros((4, 4), dtype=np.float32),
    np.zeros((4, 4, 5), dtype=np.uint8),
    np.zeros((4,), dtype=np.uint8),
    np.zeros((0, 4, 3), dtype=np.uint8),
])
def test_encode_refuses_what_png8_cannot_hold(image):
    with pytest.raises(ValueError):
        encode_png(image)
