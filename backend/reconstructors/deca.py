"""The `deca` reconstructor in the pipeline: DECA on the subject's 512 px crop, identity locked at calibration.

The neutral crop calibrates DECA once (backend/deca/reconstructor.py); each edited crop then gives only its
expression code and jaw pose. The base mesh is FLAME's (5023 vertices, head_template.obj's UVs), the textures are
in that UV layout, and the face-eye mask says where the face is in it.
"""
from pathlib import Path

import numpy as np

from backend.subject.calibration import Subject
from backend.deca.reconstructor import DecaIdentity, DecaReconstructor
from backend.reconstructors.reconstruction import Reconstruction, ReconstructionBase, Reconstructor


class DecaPipelineReconstructor(Reconstructor):
    """DecaReconstructor behind the pipeline's reconstructor interface."""

    def __init__(self, deca: DecaReconstructor):
        self.deca = deca
        self.name, self.version = deca.name, deca.version

    @classmethod
    def from_folder(cls, folder: str | Path, device: str | None = None) -> "DecaPipelineReconstructor":
        import torch

        chosen = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(DecaReconstructor.from_folder(Path(folder).expanduser(), device=chosen))

    def settings(self) -> dict:
        return self.deca.settings()

    def reconstruct_neutral(self, subject: Subject) -> ReconstructionBase:
        identity = self.deca.encode_identity(subject.crop, subject.landmarks_px)
        return ReconstructionBase(mesh=identity.mesh, texture=identity.texture,
                                  texture_region=self.deca.face_eye_mask > 0.5, state=identity)

    def reconstruct(self, subject: Subject, base: ReconstructionBase, edited: np.ndarray,
                    source: str = "the edited photo", known_landmarks: np.ndarray | None = None) -> Reconstruction:
        """An edited crop with the neutral's identity; without known landmarks the neutral's DECA crop is reused
        (editors that keep the framing, as DiffEdit does)."""
        identity: DecaIdentity = base.state
        expression = self.deca.reconstruct(identity, edited, known_landmarks)
        return Reconstruction(vertices=expression.vertices, texture=expression.texture, alignment_error=None,
                              landmarks_source="editor" if known_landmarks is not None else "neutral crop")
