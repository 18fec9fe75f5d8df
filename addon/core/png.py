"""Minimal 8-bit PNG reading and writing with numpy and zlib, for code that cannot depend on an image library.

Supports what the expression set needs: 8-bit grey, grey+alpha, RGB and RGBA, non-interlaced. Decoding handles
all five row filters, so PNGs written by other tools (which pick filters adaptively) read back too.
"""

import struct
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

from .errors import ExpressionSetError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 6

# PNG colour type -> channels per pixel, and back.
CHANNELS_BY_COLOUR_TYPE = {0: 1, 2: 3, 4: 2, 6: 4}
COLOUR_TYPE_BY_CHANNELS = {channels: colour for colour, channels in CHANNELS_BY_COLOUR_TYPE.items()}
PALETTE_COLOUR_TYPE = 3

FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVERAGE, FILTER_PAETH = range(5)
# Rows decoded per wavefront block: bounds its working memory to about (rows + W) * rows * C * 4 bytes.
_WAVEFRONT_ROWS = 512

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
    width, height, _bit_depth, colour_type, _interlace = _parse_header(head, source)
    return width, height, CHANNELS_BY_COLOUR_TYPE.get(colour_type, 3)


def _parse_header(data: bytes, source: str) -> tuple[int, int, int, int, int]:
    """(width, height, bit depth, colour type, interlace method) from the start of a PNG."""
    if len(data) < len(PNG_SIGNATURE) or data[:len(PNG_SIGNATURE)] != PNG_SIGNATURE:
        raise ExpressionSetError(f"{source}: not a PNG file (the PNG signature is missing); "
                                 "save the image as PNG")
    if len(data) < _IHDR_END:
        raise ExpressionSetError(f"{source}: the PNG file is truncated before the end of its header")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ExpressionSetError(f"{source}: malformed PNG, the first chunk is not a 13-byte IHDR")
    width, height, bit_depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if width == 0 or height == 0:
        raise ExpressionSetError(f"{source}: malformed PNG, the image size is {width}x{height}")
    return width, height, bit_depth, colour_type, interlace


# ---------------------------------------------------------------------------------------------------------------
# Decoding


def decode_png(data: bytes, source: str = "PNG data") -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG.

    Returns uint8 (H,W) for grey, else (H,W,C). source names the file in error messages.
    Raises ExpressionSetError for a damaged file or a kind of PNG this reader does not support.
    """
    width, height, bit_depth, colour_type, interlace = _parse_header(data, source)
    _check_supported(bit_depth, colour_type, interlace, source)
    channels = CHANNELS_BY_COLOUR_TYPE[colour_type]
    compressed = _image_data(data, source)
    try:
        raw = zlib.decompress(compressed)
    except zlib.error as error:
        raise ExpressionSetError(f"{source}: the PNG image data is corrupt ({error})") from error
    row_bytes = width * channels
    if len(raw) != height * (1 + row_bytes):
        raise ExpressionSetError(f"{source}: the PNG image data holds {len(raw)} bytes, "
                                 f"expected {height * (1 + row_bytes)} for {width}x{height}")
    scanlines = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + row_bytes)
    pixels = _unfilter_rows(scanlines[:, 0], scanlines[:, 1:], channels, source)
    pixels = pixels.reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def read_png(path: str | PathLike) -> np.ndarray:
    """decode_png of a file, with the file named in errors."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ExpressionSetError(f"{path}: cannot read the PNG file ({error.strerror or error})") from error
    return decode_png(data, str(path))


def _check_supported(bit_depth: int, colour_type: int, interlace: int, source: str) -> None:
    if colour_type == PALETTE_COLOUR_TYPE:
        raise ExpressionSetError(f"{source}: palette (indexed-colour) PNGs are not supported; "
                                 "save it as 8-bit RGB or grey")
    if colour_type not in CHANNELS_BY_COLOUR_TYPE:
        raise ExpressionSetError(f"{source}: PNG colour type {colour_type} is not a valid PNG colour type")
    if bit_depth != 8:
        raise ExpressionSetError(f"{source}: {bit_depth}-bit PNGs are not supported; save it with 8 bits per channel")
    if interlace != 0:
        raise ExpressionSetError(f"{source}: interlaced (Adam7) PNGs are not supported; save it non-interlaced")


def _image_data(data: bytes, source: str) -> bytes:
    """The concatenated IDAT payloads, checking each chunk's length and CRC."""
    idat = []
    position = len(PNG_SIGNATURE)
    while True:
        if position + 8 > len(data):
            raise ExpressionSetError(f"{source}: the PNG file is truncated (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 8 + length + 4
        if end > len(data):
            raise ExpressionSetError(f"{source}: the PNG file is truncated inside its {kind!r} chunk")
        payload = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(kind + payload) != crc:
            raise ExpressionSetError(f"{source}: the PNG {kind!r} chunk is corrupt (CRC mismatch)")
        if kind == b"IEND":
            break
        if kind == b"IDAT":
            idat.append(payload)
        elif kind[0:1].isupper() and kind not in (b"IHDR", b"PLTE"):
            raise ExpressionSetError(f"{source}: the PNG uses the critical chunk {kind!r}, which is not supported")
        position = end
    if not idat:
        raise ExpressionSetError(f"{source}: the PNG has no image data (no IDAT chunk)")
    return b"".join(idat)


def _unfilter_rows(filter_types: np.ndarray, filtered: np.ndarray, bytes_per_pixel: int,
                   source: str) -> np.ndarray:
    """Undo the per-row PNG filters. filter_types: (H,) uint8; filtered: (H, W*C) uint8. Returns (H, W*C) uint8.

    Images with only None/Sub/Up rows (what encode_png writes) are undone a whole row at a time. Average and
    Paeth make every byte depend on the decoded byte to its left, so images using them are undone along
    anti-diagonals instead, in blocks of rows.
    """
    unknown = np.setdiff1d(np.unique(filter_types), np.arange(5))
    if unknown.size:
        raise ExpressionSetError(f"{source}: the PNG uses unknown row filter type {int(unknown[0])}")
    previous = np.zeros(filtered.shape[1], dtype=np.uint8)
    pixels = np.empty_like(filtered)
    if np.any(filter_types >= FILTER_AVERAGE):
        for start in range(0, filtered.shape[0], _WAVEFRONT_ROWS):
            block = slice(start, start + _WAVEFRONT_ROWS)
            pixels[block] = _unfilter_wavefront(filter_types[block], filtered[block], previous, bytes_per_pixel)
            previous = pixels[block][-1]
        return pixels
    for row, kind in enumerate(filter_types):
        pixels[row] = _unfilter_simple_row(kind, filtered[row], previous, bytes_per_pixel)
        previous = pixels[row]
    return pixels


def _unfilter_simple_row(kind: int, filtered: np.ndarray, previous: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """One None, Sub or Up row. filtered, previous: (W*C,) uint8."""
    if kind == FILTER_NONE:
        return filtered
    if kind == FILTER_UP:
        return filtered + previous
    # Sub: each byte adds the decoded byte one pixel to the left, i.e. a running sum per channel (uint8 wraps).
    return np.cumsum(filtered.reshape(-1, bytes_per_pixel), axis=0, dtype=np.uint8).reshape(-1)


def _unfilter_wavefront(filter_types: np.ndarray, filtered: np.ndarray, previous: np.ndarray,
                        bytes_per_pixel: int) -> np.ndarray:
    """Rows of any filter types decoded along anti-diagonals. filtered: (N, W*C) uint8; previous: (W*C,) uint8.

    Pixel (r, x) needs only its left, upper and upper-left neighbours, so the pixels on one anti-diagonal are
    independent: N + W vectorised steps instead of N·W scalar ones. The arrays are stored skewed,
    skewed[d, r] = pixel (r, x = d − r − 1), so that each step reads and writes plain slices. Row r = 0 is the
    already decoded row above; x = −1 is the zero padding on the left.
    """
    count, row_bytes = filtered.shape
    width = row_bytes // bytes_per_pixel
    rows = np.arange(1, count + 1)[:, None]
    columns = np.arange(width)[None, :]
    diagonals = rows + columns + 1
    residuals = np.zeros((count + width + 1, count + 1, bytes_per_pixel), dtype=np.int16)
    residuals[diagonals, rows] = filtered.reshape(count, width, bytes_per_pixel)
    decoded = np.zeros_like(residuals)
    decoded[1:width + 1, 0] = previous.reshape(width, bytes_per_pixel)
    kinds = filter_types[:, None]
    for diagonal in range(2, count + width + 1):
        low, high = max(1, diagonal - width), min(count, diagonal - 1)
        left = decoded[diagonal - 1, low:high + 1]
        up = decoded[diagonal - 1, low - 1:high]
        up_left = decoded[diagonal - 2, low - 1:high]
        predictor = _predictor(kinds[low - 1:high], left, up, up_left)
        decoded[diagonal, low:high + 1] = (residuals[diagonal, low:high + 1] + predictor) & 0xFF
    return decoded[diagonals, rows].reshape(count, row_bytes).astype(np.uint8)


def _predictor(kinds: np.ndarray, left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """What each filter type adds back to the residual. kinds: (n,1); neighbours: (n,C) int16."""
    predictor = np.where(kinds == FILTER_PAETH, _paeth(left, up, up_left), (left + up) >> 1)
    predictor = np.where(kinds == FILTER_UP, up, predictor)
    predictor = np.where(kinds == FILTER_SUB, left, predictor)
    return np.where(kinds == FILTER_NONE, 0, predictor)


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """The Paeth predictor: whichever neighbour is closest to left + up − up_left (ties: left, then up)."""
    distance_left = np.abs(up - up_left)
    distance_up = np.abs(left - up_left)
    distance_up_left = np.abs(left + up - 2 * up_left)
    return np.where((distance_left <= distance_up) & (distance_left <= distance_up_left), left,
                    np.where(distance_up <= distance_up_left, up, up_left))
