"""Pipeline steps 1 and 3, subject calibration: one photo → face crop, its own expression read and removed, base mesh
with UVs, base texture, AU basis.

Done once per subject; every expression reuses it (the identity is locked here). The set's neutral is the photo
with its own expression taken out (geometry, and the crop warped with it); the photo as taken is kept beside it.
"""
import hashlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from addon.core.obj_mesh import Mesh
from backend.subject.action_units import ActionUnitBasis, build_action_unit_basis
from backend.subject.face_topology import FACE_LEFT_SIDE, FACE_RIGHT_SIDE, INNER_BROW, OUTER_BROW, FaceFrame, face_frame
from backend.subject.face_detection import FaceChoice, FaceFinder, LandmarkDetector, choose_face
from backend.subject.mouth_interior import MouthPatch, cavity_colour, mouth_patch, patch_uvs
from backend.subject.neutral_texture import neutral_texture
from backend.subject.photo_expression import (PhotoExpression, closed_lips, opened_mouth_removed,
                                     read_and_remove_expression)
from backend.geometry.piecewise_warp import border_anchors, warp_piecewise_affine
from backend.subject.face_topology import (LANDMARK_COUNT, OUTER_LIP_LOOP, FaceTopology, backing_positions,
                                   face_normals_towards_camera, face_topology, polygon_mask)

CROP_SIZE = 512
# Crop side as a multiple of the face's landmark extent: room for hair, ears and an opened jaw.
CROP_MARGIN = 1.7
FACE_WIDTH_M = 0.14
# Landmarks whose motion no action unit reaches below this mobility anchor the rigid alignment.
STABLE_MOBILITY = 0.02


@dataclass(frozen=True)
class CropToMesh:
    """Maps face-crop pixels (x right, y down, z like x with smaller = nearer) to mesh metres (+Y up, +Z out)."""
    origin_px: np.ndarray  # (3,)
    metres_per_px: float

    def to_metres(self, pixels: np.ndarray) -> np.ndarray:
        """(N,3) crop pixels → (N,3) metres."""
        return (pixels - self.origin_px) * np.array([1.0, -1.0, -1.0]) * self.metres_per_px

    def to_pixels(self, metres: np.ndarray) -> np.ndarray:
        """(N,3) metres → (N,3) crop pixels."""
        return metres / self.metres_per_px * np.array([1.0, -1.0, -1.0]) + self.origin_px


@dataclass
class Subject:
    """Everything calibrated from the neutral photo."""
    photo_name: str
    photo_bytes: bytes
    photo_size: tuple[int, int]            # width, height
    face: FaceChoice
    crop_box: tuple[float, float, float]   # x, y, side of the square crop in photo pixels
    crop: np.ndarray                       # (S,S,3) uint8, the neutral face crop = base texture and editing input
    landmarks_px: np.ndarray               # (468,3) neutral landmarks in crop pixels
    crop_to_mesh: CropToMesh
    topology: FaceTopology
    frame: FaceFrame
    base_mesh: Mesh                        # metres; vertices = landmarks then backings
    action_units: ActionUnitBasis
    stable_landmarks: np.ndarray           # (K,) indices used for rigid alignment
    mobility: np.ndarray                   # (468,) 0..1
    face_region: np.ndarray                # (S,S) bool, inside the face oval in the crop
    skin_region: np.ndarray                # (S,S) bool, face oval minus eyes, brows and mouth
    mouth_patch: MouthPatch                # what the inner-mouth backing shows, painted into every texture
    photo_expression: PhotoExpression      # the expression read from the photo as taken
    photo_crop: np.ndarray                 # (S,S,3) uint8, the crop as photographed (= crop when not neutralised)
    photo_landmarks_px: np.ndarray         # (468,3) its landmarks in crop pixels
    neutralised: bool                      # crop is the photo with its own expression removed (not as taken)
    notes: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.photo_bytes).hexdigest()

    def vertices_from_landmarks(self, landmarks_m: np.ndarray) -> np.ndarray:
        """(V,3) float32 mesh vertices (landmarks + backings) from (468,3) landmark positions in metres."""
        return backing_positions(self.topology, landmarks_m, self.frame.axes[2]).astype(np.float32)


def calibrate(photo: np.ndarray, photo_name: str, photo_bytes: bytes, finder: FaceFinder,
              detector: LandmarkDetector, crop_size: int = CROP_SIZE, neutralise: bool = True) -> Subject:
    """Calibrate a subject from its (H,W,3) uint8 photo. The photo's own expression is always read (and reported);
    it is removed from the neutral unless neutralise=False (then the photo as taken is the Basis)."""
    # 1. Find the face, then place a square crop from a first landmark pass.
    choice = choose_face(finder.find(photo), source=photo_name)
    rough_box = _square_around(choice.box.centre, 2.0 * max(choice.box.width, choice.box.height))
    rough_landmarks = detector.landmarks(crop_square(photo, rough_box, crop_size), source=photo_name)
    crop_box = _crop_from_landmarks(rough_landmarks, rough_box, crop_size)
    # 2. Landmarks on the final crop: the same framing the edited photos will have.
    photo_crop = crop_square(photo, crop_box, crop_size)
    photo_landmarks_px = detector.landmarks(photo_crop, source=photo_name)
    crop_to_mesh = _crop_to_mesh(photo_landmarks_px)
    # 3. The photo's own expression, read from its landmarks on its own AU fields, then removed.
    photo_topology = face_topology()
    expression, neutral_landmarks_m = read_and_remove_expression(crop_to_mesh.to_metres(photo_landmarks_px),
                                                                 photo_topology.landmark_triangles)
    crop, landmarks_px = photo_crop, photo_landmarks_px
    neutralised = bool(neutralise and expression.action_units)
    if neutralised:
        if opened_mouth_removed(expression):
            neutral_landmarks_m = closed_lips(neutral_landmarks_m, photo_topology.mouth_loop,
                                              face_frame(neutral_landmarks_m))
        landmarks_px = crop_to_mesh.to_pixels(neutral_landmarks_m)
        crop = neutral_texture(warp_crop(photo_crop, photo_landmarks_px, landmarks_px), landmarks_px,
                               photo_topology.mouth_loop, expression)
    # 4. Mesh in metres, topology facing the camera, AU fields on the subject's own (neutral) face.
    landmarks_m = crop_to_mesh.to_metres(landmarks_px)
    topology = face_normals_towards_camera(photo_topology, landmarks_m)
    frame = face_frame(landmarks_m)
    basis = build_action_unit_basis(landmarks_m, topology.landmark_triangles)
    mobility = basis.mobility()
    vertices = backing_positions(topology, landmarks_m, frame.axes[2]).astype(np.float32)
    # The mouth backing shows the photo's own mouth interior (its teeth, when the photo shows them).
    photo_lips = photo_landmarks_px[topology.mouth_loop, :2]
    patch = mouth_patch(photo_crop, photo_lips,
                        cavity_colour(photo_crop, photo_landmarks_px[list(OUTER_LIP_LOOP), :2], photo_lips))
    uvs, face_uvs = base_uvs(topology, landmarks_px, crop_size, patch)
    base_mesh = Mesh(vertices=vertices, faces=topology.triangles, uvs=uvs, face_uvs=face_uvs)
    face_region, skin_region = face_regions(topology, landmarks_px, crop_size)
    notes = [choice.note] if choice.note else []
    return Subject(photo_name=photo_name, photo_bytes=photo_bytes, photo_size=(photo.shape[1], photo.shape[0]),
                   face=choice, crop_box=crop_box, crop=crop, landmarks_px=landmarks_px, crop_to_mesh=crop_to_mesh,
                   topology=topology, frame=frame, base_mesh=base_mesh, action_units=basis,
                   stable_landmarks=np.flatnonzero(mobility < STABLE_MOBILITY), mobility=mobility,
                   face_region=face_region, skin_region=skin_region, mouth_patch=patch, photo_expression=expression,
                   photo_crop=photo_crop, photo_landmarks_px=photo_landmarks_px, neutralised=neutralised,
                   notes=notes)


def warp_crop(crop: np.ndarray, from_px: np.ndarray, to_px: np.ndarray) -> np.ndarray:
    """The (S,S,3) crop warped so that its (468,≥2) landmarks from_px land on to_px; the border stays put."""
    size = crop.shape[0]
    anchors = border_anchors(size, size)
    return warp_piecewise_affine(crop, np.concatenate([from_px[:, :2], anchors]),
                                 np.concatenate([to_px[:, :2], anchors]), (size, size))


def crop_square(photo: np.ndarray, box: tuple[float, float, float], size: int) -> np.ndarray:
    """Resample the square (x, y, side) of a photo to size×size. Outside the photo the crop is one plain colour (the
    median of the photo's border): repeating the edge pixels would smear streaks towards the face."""
    x, y, side = box
    scale = size / side
    source = photo
    if scale < 0.5:  # shrink with area averaging first, so a big photo does not alias
        factor = 2.0 * scale
        source = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        x, y, scale = x * factor, y * factor, scale / factor
    matrix = np.array([[scale, 0.0, -x * scale], [0.0, scale, -y * scale]])
    fill = tuple(float(value) for value in border_colour(source))
    return cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def border_colour(photo: np.ndarray) -> np.ndarray:
    """(3,) the median colour of an (H,W,3) photo's outermost rows and columns."""
    ring = np.concatenate([photo[0], photo[-1], photo[:, 0], photo[:, -1]])
    return np.median(ring, axis=0).round()


def _square_around(centre: tuple[float, float], side: float) -> tuple[float, float, float]:
    return centre[0] - side / 2, centre[1] - side / 2, side


def _crop_from_landmarks(landmarks_px: np.ndarray, box: tuple[float, float, float], size: int):
    """The final crop box (photo pixels) centred on the face's landmarks."""
    x, y, side = box
    in_photo = landmarks_px[:, :2] * (side / size) + np.array([x, y])
    low, high = in_photo.min(axis=0), in_photo.max(axis=0)
    return _square_around(tuple((low + high) / 2), CROP_MARGIN * float((high - low).max()))


def _crop_to_mesh(landmarks_px: np.ndarray) -> CropToMesh:
    width_px = np.linalg.norm(landmarks_px[FACE_LEFT_SIDE] - landmarks_px[FACE_RIGHT_SIDE])
    return CropToMesh(origin_px=landmarks_px.mean(axis=0), metres_per_px=FACE_WIDTH_M / width_px)


def base_uvs(topology: FaceTopology, landmarks_px: np.ndarray, crop_size: int,
             patch: MouthPatch) -> tuple[np.ndarray, np.ndarray]:
    """UVs: landmarks at their crop positions; eye backings sample the eyes; the mouth backing and the
    inner-lip loop's corners of its triangles sample the mouth patch, mapped from the lips the patch was cut
    around (the photo's, open when it smiled: so the neutral's closed loop still shows the photo's whole mouth
    when the jaw opens). Returns uvs (V+L,2) float32 — one UV per vertex, then one per inner-lip loop vertex for
    the backing's side — and face_uvs (F,3) int32."""
    loop = topology.mouth_loop
    uv = np.zeros((topology.vertex_count + len(loop), 2))
    uv[:LANDMARK_COUNT] = np.column_stack([landmarks_px[:, 0], crop_size - landmarks_px[:, 1]]) / crop_size
    for eye_loop, start, (_, _, shrink) in topology.backings()[1:]:
        rim = uv[eye_loop]
        centre = rim.mean(axis=0)
        uv[start:start + len(eye_loop)] = centre + shrink * (rim - centre)
        uv[start + len(eye_loop)] = centre
    _, mouth_start, (_, _, shrink) = topology.backings()[0]
    lips_px = patch.lips_px
    centre_px = lips_px.mean(axis=0)
    ring_px = centre_px + shrink * (lips_px - centre_px)
    uv[mouth_start:mouth_start + len(loop) + 1] = patch_uvs(patch, np.vstack([ring_px, centre_px]), crop_size)
    loop_uv_start = topology.vertex_count
    uv[loop_uv_start:] = patch_uvs(patch, lips_px, crop_size)
    face_uvs = topology.triangles.copy()
    mouth_rows = np.flatnonzero(np.isin(face_uvs, topology.mouth_backing_vertices).any(axis=1))
    for position, vertex in enumerate(loop):
        corners = face_uvs[mouth_rows]
        corners[corners == vertex] = loop_uv_start + position
        face_uvs[mouth_rows] = corners
    return uv.astype(np.float32), face_uvs.astype(np.int32)


def face_regions(topology: FaceTopology, landmarks_px: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S,S) bool masks in crop pixels: inside the face oval; and skin = oval minus eyes, brows, lips (the lips'
    outer line: a closed mouth's inner loop has no area)."""
    face = polygon_mask(landmarks_px[topology.outer_loop, :2], size)
    holes = polygon_mask(_grown(landmarks_px[list(OUTER_LIP_LOOP), :2], 1.1), size)
    for loop in topology.eye_loops:
        holes |= polygon_mask(_grown(landmarks_px[loop, :2], 1.6), size)
    for side in (0, 1):
        brow = landmarks_px[INNER_BROW[side] + OUTER_BROW[side], :2]
        holes |= polygon_mask(_grown(brow[cv2.convexHull(brow.astype(np.float32), returnPoints=False)[:, 0]], 1.3),
                              size)
    return face, face & ~holes


def _grown(points: np.ndarray, factor: float) -> np.ndarray:
    centre = points.mean(axis=0)
    return centre + factor * (points - centre)
