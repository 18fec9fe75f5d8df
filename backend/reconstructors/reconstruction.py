"""What every reconstructor gives the pipeline: the base once per subject (step 2), then each edited photo in the
base topology (step 7)."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from addon.core.obj_mesh import Mesh

if TYPE_CHECKING:
    from backend.subject.calibration import Subject


@dataclass(frozen=True)
class ReconstructionBase:
    mesh: Mesh                   # the base mesh: metres, +Y up, +Z towards the camera, with its UV layout
    texture: np.ndarray          # (T,T,3) uint8 base texture in the mesh's UV layout
    texture_region: np.ndarray   # (T,T) bool, where the face is in that texture (sharpening, change mask)
    state: object = None         # what the reconstructor keeps of the neutral (DECA: its codes)


@dataclass(frozen=True)
class Reconstruction:
    vertices: np.ndarray            # (V,3) float32 metres, the base mesh's vertex order
    texture: np.ndarray             # (T,T,3) uint8 in the base UV layout
    alignment_error: float | None   # how well the edited face sat on the neutral, in face widths (None: not measured)
    landmarks_source: str           # where the edited photo's landmarks came from ("detected", "editor", …)


class Reconstructor(Protocol):
    """The reconstructor contract (implemented by LandmarkReconstructor and DecaPipelineReconstructor)."""
    name: str
    version: str

    def settings(self) -> dict:
        """What the manifest records of how it reconstructs."""

    def reconstruct_neutral(self, subject: "Subject") -> ReconstructionBase:
        """Once per subject: the topology and base texture every expression shares (identity locked here)."""

    def reconstruct(self, subject: "Subject", base: ReconstructionBase, edited: np.ndarray, source: str,
                    known_landmarks: np.ndarray | None = None) -> Reconstruction:
        """The (S,S,3) edited crop as vertex positions in the base's order and a texture in its UV layout; source
        names the expression in messages; known_landmarks (468,3) are where the editor put them, when it knows."""
