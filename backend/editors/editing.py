"""What every editor gives the pipeline: one request per prompt in, one edited crop per request out.

An editor has `name`, `version`, `settings() -> dict`, `batch_size` (how many requests it edits at once: the
pipeline hands it that many) and `edit_batch(subject, requests) -> list[EditedPhoto]`.
"""
from dataclasses import dataclass, field

import numpy as np

from backend.prompts.text_to_action_units import ExpressionIntent


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
