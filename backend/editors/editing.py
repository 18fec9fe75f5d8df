"""What every editor gives the pipeline (step 5): one request per prompt in, one edited crop per request out."""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from backend.prompts.text_to_action_units import ExpressionIntent

if TYPE_CHECKING:
    from backend.subject.calibration import Subject


@dataclass(frozen=True)
class EditRequest:
    prompt: str                 # the user's prompt, as typed
    intent: ExpressionIntent    # the prompt understood: parsed, action units, emotion mixture


@dataclass(frozen=True)
class EditedPhoto:
    image: np.ndarray                   # (S,S,3) uint8, the edited crop of the subject
    full_prompt: str                    # what the editor was actually asked for (action units, or the model's text)
    landmarks_px: np.ndarray | None     # (468,3) crop pixels when the editor knows where the landmarks went
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)  # images worth saving with --diagnostics


class Editor(Protocol):
    """The editor contract (implemented by WarpEditor and DiffEditEditor)."""
    name: str
    version: str
    batch_size: int   # how many requests it edits at once: the pipeline hands it that many

    def settings(self) -> dict:
        """What the manifest records of how it edits."""

    def edit_batch(self, subject: "Subject", requests: list[EditRequest]) -> list[EditedPhoto]:
        """One edited crop of the subject's (neutralised) crop per request, in order."""
