"""Decode a user's photo safely into an RGB uint8 array."""
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import DamagedImageError, InputImageError, NotAnImageError, PhotoTooLargeError

MAX_PIXELS = 40_000_000
MIN_SIDE_PX = 80
# File name suffixes of the photo formats this reads.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm")
# The first bytes of those formats: such bytes that cannot be read are a damaged image, anything else no image.
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"GIF8", b"P6", b"P5")


def load_photo(path: str | Path) -> np.ndarray:
    """Read a photo file → (H,W,3) uint8 RGB, EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"photo '{path}' does not exist or is not a file")
    return decode_photo(path.read_bytes(), source=str(path))


def decode_photo(data: bytes, source: str = "the photo") -> np.ndarray:
    """Decode image bytes → (H,W,3) uint8 RGB, refusing huge images before decoding pixels.

    Grey, palette and RGBA inputs are converted (transparency composited on white).
    """
    image = open_photo_header(data, source)
    width, height = image.size
    if min(width, height) < MIN_SIDE_PX:
        raise InputImageError(
            f"{source} is only {width}x{height} pixels; a face needs at least {MIN_SIDE_PX} px, use a larger photo")
    try:
        image = ImageOps.exif_transpose(image)
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise InputImageError(f"{source} is corrupt or truncated ({error}); re-export the photo") from error
    return np.ascontiguousarray(_to_rgb(image))


def open_photo_header(data: bytes, source: str = "the photo", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The image with only its header read, refused when it is empty, no image (NotAnImageError), damaged
    (DamagedImageError) or over max_pixels (PhotoTooLargeError)."""
    if not data:
        raise InputImageError(f"{source} is empty (0 bytes); choose a JPEG or PNG face photo")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size  # read from the header only
    except Image.DecompressionBombError:  # Pillow refuses headers over ~179 MP before we can
        raise PhotoTooLargeError(f"{source} is far over the {max_pixels / 1e6:.0f} megapixel limit; scale it "
                                 "down first") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        if data.startswith(IMAGE_SIGNATURES) or data[8:12] == b"WEBP":
            raise DamagedImageError(f"{source} is a damaged or truncated image (its header cannot be read); "
                                    "export it again as JPEG or PNG") from None
        raise NotAnImageError(f"{source} is not an image this reads; use a JPEG or PNG photo") from None
    if width * height > max_pixels:
        raise PhotoTooLargeError(f"{source} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
                                 f"{max_pixels / 1e6:.0f} MP limit; scale it down first")
    return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(values / max(values.max(), 1) * 255, 0, 255).astype(np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def encode_png_bytes(rgb: np.ndarray) -> bytes:
    """(H,W,3) uint8 → PNG bytes (for storing the subject photo in an expression set)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
