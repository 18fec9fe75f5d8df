"""A mouth interior drawn in code — cavity, teeth, tongue — for an inner-lip loop that opened in an edit.

A warp can only stretch the lips' pixels across a new opening. This paints what an opened mouth shows
instead, inside the moved inner-lip polygon only (the lips stay in front of it), in colours taken from
the photo itself: teeth from its bright skin/sclera tones, the cavity and tongue from its lip colour.
Every colour is a grey level plus the photo's own chroma and every shading is one factor for all three
channels, so a greyscale photo gives an exactly grey mouth. When the photo showed the subject's teeth,
those (backend/editors/photo_teeth.py) take the drawn teeth's place.

Geometry is worked out in the mouth's own axes (backend/editors/mouth_frame.py): u along the line from one
lip corner to the other, v down the face, both in pixels. The teeth sit on a round dental arch whose size
follows the face, not the mouth: a wide smile shows dark corners beside the last teeth, a narrow round
mouth hides the side teeth behind the lips.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.editors.mouth_frame import MouthFrame, mouth_frame
from backend.editors.photo_teeth import LUMINANCE_WEIGHTS, PhotoTeeth, placed_photo_teeth
from backend.subject.face_topology import OUTER_LIP_LOOP, face_width_px, polygon_area
from backend.subject.mouth_interior import CAVITY_LIGHTNESS, lip_colour

# Interior fully drawn once this fraction of the opening is new (below 5 % nothing is drawn).
NEW_FRACTION_RANGE = (0.05, 0.35)
MAX_OPACITY = 0.97
# Openness = opening height in the middle / mouth width. What shows as the mouth opens (ramps in between):
UPPER_TEETH_OPENNESS = (0.07, 0.15)   # below: a barely parted mouth, a dark line
LOWER_TEETH_OPENNESS = (0.32, 0.55)
TONGUE_OPENNESS = (0.30, 0.50)

# The teeth, sizes in face widths (landmarks 234–454) unless said otherwise.
UPPER_ARCH_RADIUS = 0.17
LOWER_ARCH_RADIUS = 0.15
UPPER_TEETH_HEIGHT = 0.15             # of the mouth width ...
TEETH_HEIGHT_LIMITS = (0.035, 0.06)   # ... within these (face widths)
LOWER_TEETH_HEIGHT = 0.055            # of the mouth width
# Visible teeth on each side from the midline outwards (central incisor, lateral incisor, canine, premolars,
# molar): their widths as angles around the arch (radians), their lengths relative to the row's height.
UPPER_TOOTH_ANGLES = (0.34, 0.27, 0.31, 0.28, 0.28, 0.3)
UPPER_TOOTH_LENGTHS = (1.0, 0.88, 0.95, 0.8, 0.75, 0.7)
LOWER_TOOTH_ANGLES = (0.24, 0.25, 0.3, 0.3, 0.3, 0.3)
LOWER_TOOTH_LENGTHS = (1.0, 1.0, 1.05, 0.9, 0.85, 0.8)
TOOTH_TONES = (1.0, 0.97, 0.92, 0.86, 0.8, 0.75)   # back teeth get less light


@dataclass(frozen=True)
class MouthPalette:
    """(3,) float RGB colours taken from the photo."""
    teeth: np.ndarray
    cavity: np.ndarray
    tongue: np.ndarray


def draw_mouth_interior(image: np.ndarray, neutral_landmarks_px: np.ndarray, moved_landmarks_px: np.ndarray,
                        mouth_loop: np.ndarray, photo_teeth: PhotoTeeth | None = None) -> np.ndarray:
    """Paint a mouth interior where the inner-lip loop opened wider than in the neutral photo.

    image: (S,S,3) uint8 RGB, the edited crop (lips already at their moved places).
    neutral_landmarks_px, moved_landmarks_px: (468,2) or (468,3) FaceMesh landmarks in crop pixels.
    mouth_loop: (20,) indices of the inner-lip landmarks in boundary order.
    photo_teeth: optional halves of the subject's own open mouth, as `cut_photo_teeth` cuts them from a crop
        framed like `image`, used instead of drawn teeth at their photographed size (uniformly scaled by the
        face-width ratio, never stretched): the upper half hangs under the moved upper lip, the lower half
        stands on the moved lower lip (partly sinking behind it as the jaw drops further), the drawn cavity and
        tongue show in between. An opening as tall as the photo's brings the halves together as photographed;
        a shorter one slides the upper over the lower.
    Returns a new (S,S,3) uint8 image; only pixels inside the moved inner-lip polygon (anti-aliased edge)
    change, and none when the loop did not open.
    """
    neutral = np.asarray(neutral_landmarks_px, float)[:, :2]
    moved = np.asarray(moved_landmarks_px, float)[:, :2]
    neutral_lips, moved_lips = neutral[mouth_loop], moved[mouth_loop]
    opacity = interior_opacity(neutral_lips, moved_lips)
    result = image.copy()
    if opacity == 0.0:
        return result
    x0, y0, x1, y1 = _pixel_box(moved_lips, image.shape, margin=2)
    frame = mouth_frame(moved_lips)
    face_width = face_width_px(moved)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    local = frame.to_local(np.stack([xs, ys], axis=-1))
    # Inside the polygon and between the two lips: where a warped loop crosses itself (lips pressed past
    # each other near the corners) nothing opened.
    coverage = np.minimum(_polygon_coverage(moved_lips - (x0, y0), (y1 - y0, x1 - x0)),
                          _between_lips(local, frame))
    if not coverage.any():
        return result
    edge_distance = cv2.distanceTransform((coverage > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    palette = photo_palette(image, moved, mouth_loop)
    photo_layers = None
    if photo_teeth is not None:
        photo_layers = placed_photo_teeth(photo_teeth, local, frame, face_width / face_width_px(neutral))
    interior = _drawn_interior(local, edge_distance, frame, face_width, palette, photo_layers)
    # The very corners blend into the lips: there the loop's two sides meet at a point the warp left sharp.
    corners = 1.0 - 0.5 * _smoothstep(0.85, 1.0, np.abs(_across_mouth(local[..., 0], frame)))
    alpha = (coverage * corners * opacity)[..., None]
    box = result[y0:y1, x0:x1]
    painted = np.clip(np.rint(box * (1.0 - alpha) + interior * alpha), 0, 255).astype(np.uint8)
    result[y0:y1, x0:x1] = np.where(alpha > 0, painted, box)
    return result


def interior_opacity(neutral_lips: np.ndarray, moved_lips: np.ndarray) -> float:
    """How opaque the drawn interior is: 0 unless the loop opened, full once enough of the opening is new.

    neutral_lips, moved_lips: (L,2) inner-lip loops in crop pixels.
    """
    opened = polygon_area(moved_lips)
    if opened <= 1.0:
        return 0.0
    new_fraction = float(np.clip(1.0 - polygon_area(neutral_lips) / opened, 0.0, 1.0))
    if new_fraction < NEW_FRACTION_RANGE[0]:
        return 0.0
    return MAX_OPACITY * float(_smoothstep(*NEW_FRACTION_RANGE, new_fraction))


def photo_palette(image: np.ndarray, landmarks_px: np.ndarray, mouth_loop: np.ndarray) -> MouthPalette:
    """Teeth, cavity and tongue colours from the (S,S,3) photo, its (468,2|3) landmarks (crop pixels) and
    the (20,) inner-lip loop indices."""
    points = np.asarray(landmarks_px, float)[:, :2]
    bright = _bright_face_colour(image, points)
    lip = lip_colour(image, points[list(OUTER_LIP_LOOP)], points[mouth_loop])
    # Teeth: as light as the photo's bright skin and sclera, with less of their colour.
    teeth = np.clip(_with_chroma(bright, luminance_scale=1.06, chroma_scale=0.5), 0.0, 248.0)
    return MouthPalette(teeth=teeth, cavity=CAVITY_LIGHTNESS * lip, tongue=_with_chroma(lip, luminance_scale=0.6,
                                                                           chroma_scale=0.8))


# --- the drawn interior --------------------------------------------------------------------------------------

def _drawn_interior(local: np.ndarray, edge_distance: np.ndarray, frame: MouthFrame, face_width: float,
                    palette: MouthPalette, photo_layers: list[tuple[np.ndarray, np.ndarray]] | None) -> np.ndarray:
    """(H,W,3) float RGB over the box: cavity, tongue, the teeth (drawn, or the photo's as (RGB, alpha) layers
    in drawing order), then the shadows of the lips and cheeks.

    local: (H,W,2) u,v of the box pixels; edge_distance: (H,W) pixels to the opening's edge.
    """
    u, v = local[..., 0], local[..., 1]
    width = frame.width
    openness = frame.openness()
    from_midline = u - frame.midline_u

    # The cavity: a dark version of the lip colour, darkest at the back (the middle of the opening).
    near_lips = np.exp(-edge_distance / (0.05 * width))
    interior = palette.cavity * (0.65 + 0.7 * near_lips)[..., None]

    tongue_alpha = _tongue_shape(u, v, frame) * _smoothstep(*TONGUE_OPENNESS, openness)
    if tongue_alpha.any():
        interior = _over(interior, palette.tongue * _tongue_shade(u, v, frame)[..., None], tongue_alpha)

    lower_alpha = _smoothstep(*LOWER_TEETH_OPENNESS, openness)
    if lower_alpha > 0 and photo_layers is None:
        coverage, shade = _teeth_row(from_midline, frame.lower_teeth_line(u) - v, LOWER_ARCH_RADIUS * face_width,
                                     LOWER_TEETH_HEIGHT * width, LOWER_TOOTH_ANGLES, LOWER_TOOTH_LENGTHS)
        interior = _over(interior, palette.teeth * (0.7 * shade)[..., None], coverage * lower_alpha)

    upper_alpha = _smoothstep(*UPPER_TEETH_OPENNESS, openness)
    if photo_layers is not None:
        for rgb, alpha in photo_layers:
            interior = _over(interior, rgb, alpha * upper_alpha)
    elif upper_alpha > 0:
        height = np.clip(UPPER_TEETH_HEIGHT * width, *(np.asarray(TEETH_HEIGHT_LIMITS) * face_width))
        coverage, shade = _teeth_row(from_midline, v - frame.upper_teeth_line(u), UPPER_ARCH_RADIUS * face_width,
                                     height, UPPER_TOOTH_ANGLES, UPPER_TOOTH_LENGTHS)
        interior = _over(interior, palette.teeth * shade[..., None], coverage * upper_alpha)

    # Shadows: under the upper lip (it overhangs the teeth), a little above the lower lip, and towards the
    # corners (the cheeks shade the back of the mouth).
    below_upper = np.maximum(v - frame.upper_v(u), 0.0)
    above_lower = np.maximum(frame.lower_v(u) - v, 0.0)
    lip_shadow = ((1.0 - 0.5 * np.exp(-below_upper / (0.025 * width)))
                  * (1.0 - 0.3 * np.exp(-above_lower / (0.02 * width))))
    corner_shadow = 1.0 - 0.6 * _smoothstep(0.55, 1.0, np.abs(_across_mouth(u, frame)))
    return interior * (lip_shadow * corner_shadow)[..., None]


def _teeth_row(from_midline: np.ndarray, depth: np.ndarray, arch_radius: float, height: float,
               tooth_angles: tuple[float, ...], tooth_lengths: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A row of teeth growing `depth` pixels from the line they hang from (or stand on); (coverage, shade), (H,W).

    from_midline: (H,W) pixels across the mouth from the teeth midline. The teeth sit on a round arch of
    arch_radius pixels seen from the front: equal angles around it look narrower towards the corners.
    """
    on_arch = np.abs(from_midline) / arch_radius
    angle = np.arcsin(np.clip(on_arch, 0.0, 1.0))
    angles = np.asarray(tooth_angles)
    ends = np.cumsum(angles)
    tooth = np.minimum(np.searchsorted(ends, angle), len(ends) - 1)
    within = np.clip((angle - (ends - angles)[tooth]) / angles[tooth], 0.0, 1.0)  # 0 … 1 across one tooth
    # The biting edge: each tooth's length, its corners rounded off (the small notches between teeth).
    length = np.asarray(tooth_lengths)[tooth] * height * (1.0 - 0.28 * np.abs(2.0 * within - 1.0) ** 3)
    coverage = np.clip(length - depth + 0.5, 0.0, 1.0) * np.clip(depth + 1.0, 0.0, 1.0)
    coverage *= 1.0 - _smoothstep(0.92, 1.0, on_arch)  # past the arch's side: the dark corner of the mouth
    # Shade: back teeth darker, each tooth rounded (a little darker at its sides), a faint line between
    # teeth, the biting edge a little translucent.
    nearest_boundary = np.where(within < 0.5, (ends - angles)[tooth], ends[tooth])
    gap_px = np.abs(np.sin(angle) - np.sin(nearest_boundary)) * arch_radius
    gap = 1.0 - 0.22 * np.exp(-(gap_px / max(0.02 * arch_radius, 0.45)) ** 2)
    rounded = 0.9 + 0.1 * np.sin(np.pi * within)
    edge = 1.0 - 0.1 * _smoothstep(0.75, 1.0, depth / np.maximum(length, 1e-6))
    shade = np.asarray(TOOTH_TONES)[tooth] * rounded * gap * edge
    return coverage, shade


def _between_lips(local: np.ndarray, frame: MouthFrame) -> np.ndarray:
    """(H,W) anti-aliased 0 … 1: below the upper inner lip, above the lower one, between the corners."""
    u, v = local[..., 0], local[..., 1]
    return (np.clip(v - frame.upper_v(u) + 0.5, 0.0, 1.0) * np.clip(frame.lower_v(u) - v + 0.5, 0.0, 1.0)
            * np.clip(u + 0.5, 0.0, 1.0) * np.clip(frame.width - u + 0.5, 0.0, 1.0))


def _across_mouth(u: np.ndarray, frame: MouthFrame) -> np.ndarray:
    """(H,W) position across the mouth: 0 at the teeth midline, ±1 at the corners (each side its own width)."""
    offset = u - frame.midline_u
    return np.where(offset < 0, offset / max(frame.midline_u, 1e-6), offset / max(frame.width - frame.midline_u,
                                                                                   1e-6))


def _tongue_shape(u: np.ndarray, v: np.ndarray, frame: MouthFrame) -> np.ndarray:
    """(H,W) coverage of a rounded tongue resting on the floor of the mouth, behind the lower lip."""
    half_width = 0.42 * frame.width
    floor = float(frame.lower_v(frame.midline_u))
    height = min(0.36 * (floor - float(frame.upper_v(frame.midline_u))), 0.16 * frame.width)
    across = np.clip((u - frame.midline_u) / half_width, -1.0, 1.0)
    top = floor - height * np.sqrt(1.0 - across ** 2)
    return np.clip((v - top) / 1.5 + 0.5, 0.0, 1.0) * (1.0 - _smoothstep(0.8, 1.0, np.abs(across)))


def _tongue_shade(u: np.ndarray, v: np.ndarray, frame: MouthFrame) -> np.ndarray:
    """Lit on its front, darker towards the back (its top edge) and the sides, a faint middle groove."""
    floor = float(frame.lower_v(frame.midline_u))
    height = max(0.16 * frame.width, 1.0)
    towards_front = np.clip((v - (floor - height)) / height, 0.0, 1.0)
    across = (u - frame.midline_u) / (0.42 * frame.width)
    groove = 1.0 - 0.15 * np.exp(-(across / 0.08) ** 2)
    return (0.5 + 0.5 * towards_front) * (1.0 - 0.4 * np.clip(np.abs(across), 0, 1) ** 3) * groove


# --- colours from the photo ----------------------------------------------------------------------------------

def _bright_face_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(3,) mean colour of the photo's bright face tones (skin highlights, sclera), sampled at the landmarks;
    the very brightest are left out (specular glints)."""
    samples = _sample(image, points)
    order = np.argsort(samples @ LUMINANCE_WEIGHTS, kind="stable")
    count = len(order)
    return samples[order[int(0.85 * count):int(0.98 * count)]].mean(axis=0)


def _with_chroma(colour: np.ndarray, luminance_scale: float, chroma_scale: float) -> np.ndarray:
    """(3,) colour with its grey level and its chroma (colour minus grey) scaled separately."""
    grey = float(colour @ LUMINANCE_WEIGHTS)
    return luminance_scale * grey + chroma_scale * (colour - grey)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,3) float colours of the pixels under (N,2) points (clamped to the image)."""
    columns = np.clip(np.rint(points[:, 0]).astype(int), 0, image.shape[1] - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(int), 0, image.shape[0] - 1)
    return image[rows, columns].astype(np.float64)


# --- small helpers -------------------------------------------------------------------------------------------

def _pixel_box(points: np.ndarray, shape, margin: int) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) around (N,2) points plus a margin, inside an image of `shape`."""
    x0 = max(int(np.floor(points[:, 0].min())) - margin, 0)
    y0 = max(int(np.floor(points[:, 1].min())) - margin, 0)
    x1 = min(int(np.ceil(points[:, 0].max())) + 1 + margin, shape[1])
    y1 = min(int(np.ceil(points[:, 1].max())) + 1 + margin, shape[0])
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def _polygon_coverage(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H,W) float32 anti-aliased coverage 0 … 1 of the polygon given by (N,2) pixel points."""
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def _over(below: np.ndarray, above: np.ndarray, alpha) -> np.ndarray:
    """`above` composited over `below` with (H,W) alpha."""
    alpha = np.asarray(alpha, np.float64)[..., None]
    return below * (1.0 - alpha) + above * alpha


def _smoothstep(edge0: float, edge1: float, x):
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
