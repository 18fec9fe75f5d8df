"""8-bit PNG writing with numpy and zlib, and the size of a PNG from its header, for code that cannot depend on an
image library (the add-on ships with numpy alone). Pixels are read back by Blender, the backend's OpenCV, or PIL in
the tests.

Writes what the expression set needs: 8-bit grey, grey+alpha, RGB and RGBA, non-interlaced.
"""

import struct
import zlib
from os import PathLike

import numpy as np

from .errors import ExpressionSetError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 6

# PNG colour type -> channels per pixel, and back.
CHANNELS_BY_COLOUR_TYPE = {0: 1, 2: 3, 4: 2, 6: 4}
COLOUR_TYPE_BY_CHANNELS = {channels: colour for colour, channels in CHANNELS_BY_COLOUR_TYPE.items()}

_IHDR_END = len(PNG_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC


# ---------------------------------------------------------------------------------------------------------------
# Encoding


def encode_png(image: np.ndarray, level: int = ZLIB_LEVEL) -> bytes:
    """PNG bytes of an 8-bit image.

    image: uint8 (H,W) grey, (H,W,2) grey+alpha, (H,W,3) RGB or (H,W,4) RGBA; level: zlib level 0..9.
    Each row gets the cheapest of the None, Sub and Up filters (smallest sum of absolute residuals).
    """
    pixels = _image_as_hwc(image)
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE_BY_CHANNELS[channels], 0, 0, 0)
    scanlines = _filter_rows(pixels.reshape(height, width * channels), channels)
    return b"".join((
        PNG_SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)),
        _chunk(b"IEND", b""),
    ))


def _image_as_hwc(image: np.ndarray) -> np.ndarray:
    """image as a contiguous uint8 (H,W,C) array; ValueError for what PNG-8 cannot hold."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png needs a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in COLOUR_TYPE_BY_CHANNELS:
        raise ValueError(f"encode_png needs shape (H,W), (H,W,2), (H,W,3) or (H,W,4), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"encode_png needs a non-empty image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _filter_rows(rows: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """Filter-type byte + filtered bytes for each row. rows: (H, W*C) uint8. Returns (H, 1 + W*C) uint8."""
    previous = np.zeros_like(rows)
    previous[1:] = rows[:-1]
    left = np.zeros_like(rows)
    left[:, bytes_per_pixel:] = rows[:, :-bytes_per_pixel]
    candidates = np.stack([rows, rows - left, rows - previous])  # uint8 arithmetic wraps modulo 256 as PNG wants
    # The usual heuristic: residuals read as signed bytes, smallest total magnitude wins.
    cost = np.abs(candidates.view(np.int8).astype(np.int64)).sum(axis=2)
    chosen = np.argmin(cost, axis=0)
    filtered = candidates[chosen, np.arange(rows.shape[0])]
    return np.concatenate([chosen.astype(np.uint8)[:, None], filtered], axis=1)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ---------------------------------------------------------------------------------------------------------------
# Header


def png_size(path_or_bytes: str | PathLike | bytes) -> tuple[int, int, int]:
    """(width, height, channels) from the IHDR of a PNG file or PNG bytes, reading only the header.

    Palette images report 3 channels. Raises ExpressionSetError if it is not a PNG or is truncated.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        head, source = bytes(path_or_bytes[:_IHDR_END]), "PNG data"
    else:
        source = str(path_or_bytes)
        try:
            with open(path_or_bytes, "rb") as file:
                head = file.read(_IHDR_END)
        except OSError as error:
            raise ExpressionSetError(f"{source}: cannot read the PNG file ({error.strerror or error})") from error
    width, height, colour_type = _parse_header(head, source)
    return width, height, CHANNELS_BY_COLOUR_TYPE.get(colour_type, 3)


def _parse_header(data: bytes, source: str) -> tuple[int, int, int]:
    """(width, height, colour type) from the start of a PNG."""
    if len(data) < len(PNG_SIGNATURE) or data[:len(PNG_SIGNATURE)] != PNG_SIGNATURE:
        raise ExpressionSetError(f"{source}: not a PNG file (the PNG signature is missing); "
                                 "save the image as PNG")
    if len(data) < _IHDR_END:
        raise ExpressionSetError(f"{source}: the PNG file is truncated before the end of its header")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ExpressionSetError(f"{source}: malformed PNG, the first chunk is not a 13-byte IHDR")
    width, height, _bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    if width == 0 or height == 0:
        raise ExpressionSetError(f"{source}: malformed PNG, the image size is {width}x{height}")
    return width, height, colour_type
