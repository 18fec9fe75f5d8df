"""Pipeline step 6: match the edited photo's skin tone back to the neutral photo's (thesis §3.3).

An editor that changes the expression also lets the skin colour drift. We find the skin in both photos, map the edited
skin's Lab distribution onto the neutral's (per channel, by quantiles), treat lightness gently because shading is part
of the expression, and blend the result in through a feathered skin mask.
"""
from dataclasses import dataclass

import cv2
import numpy as np

# Robust (median/MAD) distance limits for "skin": a,b tightly (hue), L loosely (shading varies over a face).
SKIN_AB_LIMIT = 3.0
SKIN_L_LIMIT = 4.0
# Floors for the MAD scales in Lab units, so a very uniform face does not give a razor-thin window.
MIN_AB_SCALE = 1.5
MIN_L_SCALE = 3.0
MAD_TO_SIGMA = 1.4826
MIN_SKIN_PIXELS = 200
# Quantiles for histogram matching; the tails are cut so a few outliers do not set the ends of the mapping.
MATCH_QUANTILES = np.linspace(0.005, 0.995, 100)
FEATHER_FRACTION_OF_WIDTH = 0.02
# A blurred straight edge is 0.5 on the edge itself; doubling puts the whole mask at full correction and the fade
# outside it, so the skin next to eyes, mouth and the face outline is not left half corrected.
FEATHER_GAIN = 2.0


@dataclass(frozen=True)
class SkinLabStats:
    """Robust statistics of skin colour in CIE Lab (L 0..100)."""

    centre: np.ndarray  # (3,) float32 per-channel median L, a, b
    scale: np.ndarray  # (3,) float32 per-channel MAD scaled to a standard deviation, floored


@dataclass
class SkinToneResult:
    image: np.ndarray  # (H,W,3) uint8, the corrected edited photo
    blend_mask: np.ndarray  # (H,W) float32 in [0,1]: feathered skin mask actually used for blending, times strength
    difference: np.ndarray  # (H,W) float32: CIE76 ΔE (Lab) between the input edited photo and the output
    warning: str | None = None  # set when nothing was changed because no usable skin was found


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 RGB → (H,W,3) float32 Lab, L in 0..100."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(H,W,3) float32 Lab → (H,W,3) uint8 RGB, out-of-gamut colours clipped."""
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def skin_lab_stats(rgb: np.ndarray, face_region: np.ndarray) -> SkinLabStats:
    """Robust centre and spread of the skin colour inside face_region.

    rgb: (H,W,3) uint8; face_region: (H,W) bool. The median and MAD ignore the minority of non-skin pixels (eyes, brows,
    lips, stray hair) that a landmark-derived face region always contains.
    """
    _check_image_and_region(rgb, face_region, "rgb", "face_region")
    if not face_region.any():
        raise ValueError("face_region is empty; no skin statistics can be computed")
    return _lab_stats(rgb_to_lab(rgb)[face_region])


def skin_mask(rgb: np.ndarray, face_region: np.ndarray,
              reference_lab_stats: SkinLabStats | None = None) -> np.ndarray:
    """(H,W) bool: pixels of face_region whose Lab colour is close to the skin statistics.

    rgb: (H,W,3) uint8; face_region: (H,W) bool. Statistics come from the image's own face region when
    reference_lab_stats is None.
    """
    _check_image_and_region(rgb, face_region, "rgb", "face_region")
    lab = rgb_to_lab(rgb)
    stats = reference_lab_stats if reference_lab_stats is not None else _lab_stats(lab[face_region])
    return _skin_mask_lab(lab, face_region, stats)


def match_skin_tone(neutral_rgb: np.ndarray, edited_rgb: np.ndarray,
                    neutral_face_region: np.ndarray, edited_face_region: np.ndarray,
                    strength: float = 1.0, lightness_strength: float = 0.5,
                    feather_px: float | None = None) -> SkinToneResult:
    """Correct the skin-colour drift of edited_rgb towards neutral_rgb.

    neutral_rgb: (H0,W0,3) uint8; edited_rgb: (H,W,3) uint8; the face regions are (H0,W0) and (H,W) bool masks of each
    photo's face (from its landmarks). strength in [0,1] scales the whole correction; lightness_strength in [0,1] scales
    the L part only (a and b are matched fully). feather_px is the Gaussian sigma of the mask feather, default 2% of
    the edited photo's width.
    """
    _check_image_and_region(neutral_rgb, neutral_face_region, "neutral_rgb", "neutral_face_region")
    _check_image_and_region(edited_rgb, edited_face_region, "edited_rgb", "edited_face_region")
    _check_unit_interval(strength, "strength")
    _check_unit_interval(lightness_strength, "lightness_strength")
    if feather_px is None:
        feather_px = FEATHER_FRACTION_OF_WIDTH * edited_rgb.shape[1]
    if not feather_px >= 0:
        raise ValueError(f"feather_px must be >= 0, got {feather_px}")
    if strength == 0:
        return _unchanged(edited_rgb)

    neutral_lab = rgb_to_lab(neutral_rgb)
    edited_lab = rgb_to_lab(edited_rgb)
    if neutral_face_region.sum() < MIN_SKIN_PIXELS or edited_face_region.sum() < MIN_SKIN_PIXELS:
        return _unchanged(edited_rgb, "no skin found: a face region has fewer than "
                                      f"{MIN_SKIN_PIXELS} pixels; skin tone left unmatched")
    neutral_stats = _lab_stats(neutral_lab[neutral_face_region])
    # The edited skin is found with the neutral's spread but around its own centre: the drift we are about to undo
    # would otherwise push the edited skin out of the neutral's window.
    edited_stats = SkinLabStats(centre=np.median(edited_lab[edited_face_region], axis=0).astype(np.float32),
                                scale=neutral_stats.scale)
    neutral_skin = _skin_mask_lab(neutral_lab, neutral_face_region, neutral_stats)
    edited_skin = _skin_mask_lab(edited_lab, edited_face_region, edited_stats)
    if neutral_skin.sum() < MIN_SKIN_PIXELS or edited_skin.sum() < MIN_SKIN_PIXELS:
        return _unchanged(edited_rgb, f"no skin found: {int(neutral_skin.sum())} neutral and "
                                      f"{int(edited_skin.sum())} edited skin pixels (need {MIN_SKIN_PIXELS}); "
                                      "skin tone left unmatched")

    matched_lab = np.empty_like(edited_lab)
    for channel in range(3):
        matched_lab[..., channel] = quantile_map(
            edited_lab[..., channel], edited_lab[..., channel][edited_skin], neutral_lab[..., channel][neutral_skin])
    matched_lab[..., 0] = edited_lab[..., 0] + lightness_strength * (matched_lab[..., 0] - edited_lab[..., 0])

    blend_mask = strength * feather(edited_skin, feather_px)
    matched = lab_to_rgb(matched_lab).astype(np.float32)
    edited = edited_rgb.astype(np.float32)
    blended = edited + blend_mask[..., None] * (matched - edited)
    image = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return SkinToneResult(image=image, blend_mask=blend_mask, difference=delta_e76(edited_lab, rgb_to_lab(image)))


def quantile_map(values: np.ndarray, source_samples: np.ndarray, reference_samples: np.ndarray) -> np.ndarray:
    """Histogram matching of one channel: map values so source_samples' distribution becomes reference_samples'.

    values: any shape float; the samples: (N,) and (M,) float. Piecewise linear between matched quantiles; beyond
    the outermost quantiles the map continues with slope 1, so colours outside the skin range (hair, eyes) shift
    with their neighbours instead of being flattened onto the end values.
    """
    source_q = np.quantile(source_samples, MATCH_QUANTILES).astype(np.float64)
    reference_q = np.quantile(reference_samples, MATCH_QUANTILES).astype(np.float64)
    # np.interp needs increasing sample points; equal quantiles (a flat histogram stretch) get a tiny spacing.
    source_q = np.maximum.accumulate(source_q + np.arange(source_q.size) * 1e-6)
    mapped = np.interp(values, source_q, reference_q)
    below, above = values < source_q[0], values > source_q[-1]
    mapped[below] = reference_q[0] + (values[below] - source_q[0])
    mapped[above] = reference_q[-1] + (values[above] - source_q[-1])
    return mapped.astype(np.float32)


def feather(mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """(H,W) bool → (H,W) float32 in [0,1]: the mask blurred with a Gaussian of sigma_px, doubled, clipped.

    Pixels of the mask are (nearly) 1, the fade to 0 lies within about 2·sigma_px outside it; sigma_px 0 = hard edge.
    """
    soft = mask.astype(np.float32)
    if sigma_px > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px, borderType=cv2.BORDER_REPLICATE)
    return np.clip(FEATHER_GAIN * soft, 0.0, 1.0)


def delta_e76(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIE76 colour difference: (H,W,3) Lab, (H,W,3) Lab → (H,W) float32 Euclidean distance."""
    return np.sqrt(np.sum((lab_a - lab_b) ** 2, axis=-1)).astype(np.float32)


def difference_heat_map(difference: np.ndarray, max_delta_e: float = 20.0) -> np.ndarray:
    """(H,W) ΔE → (H,W,3) uint8 RGB INFERNO colour map; max_delta_e and above show as the hottest colour."""
    if difference.ndim != 2:
        raise ValueError(f"difference must be (H,W), got shape {difference.shape}")
    if not max_delta_e > 0:
        raise ValueError(f"max_delta_e must be > 0, got {max_delta_e}")
    levels = np.clip(difference / max_delta_e * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _lab_stats(lab_pixels: np.ndarray) -> SkinLabStats:
    """(N,3) Lab samples → their robust SkinLabStats."""
    centre = np.median(lab_pixels, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(lab_pixels - centre), axis=0)
    scale = np.maximum(scale, [MIN_L_SCALE, MIN_AB_SCALE, MIN_AB_SCALE])
    return SkinLabStats(centre=centre.astype(np.float32), scale=scale.astype(np.float32))


def _skin_mask_lab(lab: np.ndarray, face_region: np.ndarray, stats: SkinLabStats) -> np.ndarray:
    """(H,W,3) Lab, (H,W) bool → (H,W) bool skin pixels of the region."""
    z = (lab[face_region] - stats.centre) / stats.scale
    ab_distance = np.sqrt(z[:, 1] ** 2 + z[:, 2] ** 2)
    mask = np.zeros(face_region.shape, bool)
    mask[face_region] = (ab_distance <= SKIN_AB_LIMIT) & (np.abs(z[:, 0]) <= SKIN_L_LIMIT)
    return mask


def _unchanged(edited_rgb: np.ndarray, warning: str | None = None) -> SkinToneResult:
    height, width = edited_rgb.shape[:2]
    return SkinToneResult(image=edited_rgb.copy(), blend_mask=np.zeros((height, width), np.float32),
                          difference=np.zeros((height, width), np.float32), warning=warning)


def _check_image_and_region(rgb: np.ndarray, region: np.ndarray, rgb_name: str, region_name: str) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{rgb_name} must be an (H,W,3) uint8 RGB array, got "
                         f"{getattr(rgb, 'shape', type(rgb))} {getattr(rgb, 'dtype', '')}")
    if not isinstance(region, np.ndarray) or region.dtype != bool or region.shape != rgb.shape[:2]:
        raise ValueError(f"{region_name} must be an (H,W) bool array matching {rgb_name}'s {rgb.shape[:2]}, got "
                         f"{getattr(region, 'shape', type(region))} {getattr(region, 'dtype', '')}")


def _check_unit_interval(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
