"""What every reconstructor gives the pipeline.

A reconstructor has `name`, `version`, `settings() -> dict`,
`calibrate(subject) -> ReconstructionBase` (once per subject: the topology and base texture every expression shares,
identity locked here) and `reconstruct(subject, base, edited, source, known_landmarks) -> Reconstruction`.
"""
from dataclasses import dataclass

import numpy as np

from addon.core.obj_mesh import Mesh


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
