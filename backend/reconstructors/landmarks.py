"""The `landmarks` reconstructor (CPU): MediaPipe landmarks of the edited photo, rigidly aligned to the neutral,
expression deltas only → vertices in the base topology; the edited photo unwarped into the base UV layout."""
import cv2
import numpy as np

from backend.subject.calibration import Subject
from backend.subject.mouth_interior import fill_mouth_opening, paint_mouth_patch
from backend.subject.face_detection import LandmarkDetector
from backend.geometry.piecewise_warp import border_anchors, warp_piecewise_affine
from backend.reconstructors.reconstruction import Reconstruction, ReconstructionBase, Reconstructor
from backend.geometry.rigid_alignment import fit_similarity

NAME = "landmarks"
VERSION = "1"


class LandmarkReconstructor(Reconstructor):
    name = NAME
    version = VERSION

    def __init__(self, detector: LandmarkDetector):
        self._detector = detector

    def settings(self) -> dict:
        return {}

    def reconstruct_neutral(self, subject: Subject) -> ReconstructionBase:
        """The base is calibration's own: FaceMesh's topology, the crop (mouth patch painted) as texture."""
        return ReconstructionBase(mesh=subject.base_mesh, texture=paint_mouth_patch(subject.crop, subject.mouth_patch),
                                  texture_region=subject.face_region)

    def reconstruct(self, subject: Subject, base: ReconstructionBase, edited: np.ndarray,
                    source: str = "the edited photo", known_landmarks: np.ndarray | None = None) -> Reconstruction:
        """Vertices and texture for an edited (S,S,3) crop of the subject.

        known_landmarks: (468,3) crop pixels when the editor knows exactly where it moved the landmarks
        (the warp editor does); FaceMesh's shape prior recovers only part of a motion, so they beat detection.
        """
        size = subject.crop.shape[0]
        if edited.shape[:2] != (size, size):
            edited = cv2.resize(edited, (size, size), interpolation=cv2.INTER_AREA)
        # 1. Landmarks of the edited photo, aligned onto the neutral on points no expression moves.
        if known_landmarks is None:
            found, landmarks_source = self._detector.landmarks(edited, source=source), "detected"
        else:
            found, landmarks_source = np.asarray(known_landmarks, dtype=np.float64), "editor"
        stable = subject.stable_landmarks
        alignment = fit_similarity(found[stable], subject.landmarks_px[stable])
        aligned = alignment.apply(found)
        residual = np.sqrt(((aligned[stable] - subject.landmarks_px[stable]) ** 2).sum(axis=1).mean())
        # 2. Identity lock: keep the neutral's shape, add only deltas where expressions can move the face.
        deltas = (aligned - subject.landmarks_px) * subject.mobility[:, None]
        landmarks_m = subject.crop_to_mesh.to_metres(subject.landmarks_px + deltas)
        vertices = subject.vertices_from_landmarks(landmarks_m)
        # 3. Texture: each landmark's surroundings in the edited photo go to that landmark's UV position.
        lips_only = fill_mouth_opening(edited, found[subject.topology.mouth_loop, :2])
        texture = unwarp_to_uv(lips_only, found[:, :2], subject.landmarks_px[:, :2],
                               fit_similarity(subject.landmarks_px[stable, :2], found[stable, :2]).apply)
        face_width_px = subject.frame.width / subject.crop_to_mesh.metres_per_px
        return Reconstruction(vertices=vertices, texture=paint_mouth_patch(texture, subject.mouth_patch),
                              alignment_error=float(residual / face_width_px), landmarks_source=landmarks_source)


def unwarp_to_uv(edited: np.ndarray, edited_points: np.ndarray, uv_points: np.ndarray, uv_to_edited) -> np.ndarray:
    """Resample the edited (S,S,3) photo so its (468,2) landmarks land on their (468,2) UV-layout pixels.

    uv_to_edited maps (N,2) UV-layout pixels to edited-photo pixels; it places the border anchors so that
    hair and background follow the head rigidly.
    """
    size = edited.shape[0]
    anchors = border_anchors(size, size)
    source = np.concatenate([edited_points, uv_to_edited(anchors)])
    target = np.concatenate([uv_points, anchors])
    return warp_piecewise_affine(edited, source, target, (size, size))
