import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image  # tests only: an independent PNG encoder and decoder

from addon.core.errors import ExpressionSetError
from addon.core.png import decode_png, encode_png, png_size, read_png

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _test_image(height, width, channels, seed=0):
    """Smooth gradients plus noise, so that encoders pick different filters on different rows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 3 + y) % 256, (np.sin(x / 5.0) * 60 + y * 2 + 100), rng.integers(0, 256, (height, width)),
              (x * y) % 256]
    image = np.stack(planes[:channels], axis=-1).astype(np.uint8)
    return image[:, :, 0] if channels == 1 else image


def _pil_png(image, mode):
    buffer = io.BytesIO()
    Image.fromarray(image, mode).save(buffer, "PNG")
    return buffer.getvalue()


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


def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_with_filters(image, filters, idat_parts=1, interlace=0, bit_depth=8, colour_type=None):
    """PNG bytes whose rows use the given filter types, filtered here byte by byte (a second, plain encoder)."""
    pixels = image[:, :, None] if image.ndim == 2 else image
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels] if colour_type is None else colour_type
    rows = [pixels[y].reshape(-1).tolist() for y in range(height)]
    raw = bytearray()
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        previous = rows[y - 1] if y else [0] * len(row)
        raw.append(kind)
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
            raw.append((value - predictor) % 256)
    compressed = zlib.compress(bytes(raw))
    step = -(-len(compressed) // idat_parts)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"tEXt", b"Comment\0made by the test")
            + b"".join(_chunk(b"IDAT", compressed[i:i + step]) for i in range(0, len(compressed), step))
            + _chunk(b"IEND", b""))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_round_trip(channels):
    image = _test_image(37, 29, channels)
    assert np.array_equal(decode_png(encode_png(image)), image)


def test_round_trip_of_one_pixel_and_one_row_images():
    for image in (np.array([[7]], dtype=np.uint8), _test_image(1, 50, 3), _test_image(50, 1, 4)):
        assert np.array_equal(decode_png(encode_png(image)), image)


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


@pytest.mark.parametrize("channels, mode", [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
def test_decodes_png_written_by_another_encoder(channels, mode):
    image = _test_image(300, 260, channels)
    data = _pil_png(image, mode)
    if channels > 1:
        assert 4 in _filter_types(data, 300), "the test image should make the other encoder use Paeth"
    assert np.array_equal(decode_png(data), image)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_decodes_every_filter_type(channels):
    image = _test_image(23, 17, channels, seed=channels)
    data = _png_with_filters(image, filters=[0, 1, 2, 3, 4, 3, 3, 4, 4, 1, 2], idat_parts=3)
    assert _filter_types(data, 23) == {0, 1, 2, 3, 4}
    assert np.array_equal(decode_png(data), image)


def test_decodes_filters_across_many_rows():
    # More rows than one decoding block, all Average or Paeth, so blocks must chain onto the row above.
    image = _test_image(600, 5, 3)
    data = _png_with_filters(image, filters=[3, 4, 4])
    assert np.array_equal(decode_png(data), image)


def test_png_size_from_bytes_and_path(tmp_path):
    data = encode_png(_test_image(12, 34, 4))
    assert png_size(data) == (34, 12, 4)
    path = tmp_path / "image.png"
    path.write_bytes(encode_png(_test_image(5, 6, 1)))
    assert png_size(path) == (6, 5, 1)
    assert png_size(str(path)) == (6, 5, 1)


def test_read_png_reads_a_file(tmp_path):
    image = _test_image(9, 8, 3)
    path = tmp_path / "image.png"
    path.write_bytes(encode_png(image))
    assert np.array_equal(read_png(path), image)


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


def test_decode_refuses_unsupported_kinds():
    image = _test_image(8, 8, 3)
    buffer = io.BytesIO()
    Image.fromarray(image).convert("P").save(buffer, "PNG")
    with pytest.raises(ExpressionSetError, match="palette"):
        decode_png(buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0].astype(np.uint16) * 200).save(buffer, "PNG")
    with pytest.raises(ExpressionSetError, match="16-bit"):
        decode_png(buffer.getvalue())
    with pytest.raises(ExpressionSetError, match="interlaced"):
        decode_png(_png_with_filters(image, [0], interlace=1))
    assert np.array_equal(decode_png(_pil_png(image, "RGB")), image)  # the same pixels as RGB decode fine


def test_decode_refuses_damaged_files():
    image = _test_image(16, 16, 3)
    data = encode_png(image)
    with pytest.raises(ExpressionSetError, match="truncated"):
        decode_png(data[:-20])
    damaged = bytearray(data)
    damaged[45] ^= 0xFF  # inside the IDAT payload
    with pytest.raises(ExpressionSetError, match="CRC"):
        decode_png(bytes(damaged))
    with pytest.raises(ExpressionSetError, match="filter type 5"):
        decode_png(_bad_filter_png(image))
    with pytest.raises(ExpressionSetError, match="no image data"):
        decode_png(SIGNATURE + _chunks_only_header(data) + _chunk(b"IEND", b""))


def _bad_filter_png(image):
    height, width, channels = image.shape
    raw = b"".join(b"\x05" + image[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _chunks_only_header(data):
    kind, payload = _chunks(data)[0]
    return _chunk(kind, payload)


@pytest.mark.parametrize("image", [
    np.zeros((4, 4), dtype=np.float32),
    np.zeros((4, 4, 5), dtype=np.uint8),
    np.zeros((4,), dtype=np.uint8),
    np.zeros((0, 4, 3), dtype=np.uint8),
])
def test_encode_refuses_what_png8_cannot_hold(image):
    with pytest.raises(ValueError):
        encode_png(image)
