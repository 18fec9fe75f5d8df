"""Emotion prototypes: each basic emotion as action-unit intensities, and their mixture for a prompt.

The fields these intensities drive are backend/subject/action_units.py; their amplitudes were measured on real posed
expressions (figures beside the fields' specs there).
"""
import numpy as np

from addon.core.vocabulary import EMOTIONS

# Intensities above 1 (intensity words, "furious") are allowed up to this: 1.5 × a strong posed expression.
MAX_INTENSITY = 1.5

# Emotion prototypes as action-unit intensities: EMFACS's units for each emotion, with the distinguishing cues
# (fear ≠ surprise: brows raised and drawn together, lips stretched; disgust: nose wrinkled, upper lip raised;
# contempt: one corner tightened and raised; sad: inner brows up, corners down, chin up; angry: brows down and
# together, lids tightened, lips pressed), at intensities fitted to the measured expressions (beside the
# fields in backend/subject/action_units.py): happy
# (fit AU6 0.6–1.2, AU12 2.1 before = 1.0 now, AU25/26 parted lips), surprise (AU1 0.7, AU2 0.55, AU25+AU27),
# fear (AU1 0.4–0.5, AU2 0.3–0.46, AU20 0.2, AU25 0.5, AU27 0.45–0.6), disgust (AU9 0.2–0.4, AU10 0.8–2.0, AU16
# 0.7, AU25 0.4–2.0: both people's posed disgust drops the lower lip and parts the lips; without AU4, which the two
# did not show). Fitted on EMFACS's units only and symmetric, the posed disgust and fear are matched at direction
# correlation 0.9 (one-person fits), these prototypes at 0.66–0.78 on all three people's neutrals.
# Sad and angry moved FaceMesh's landmarks little on the photos (0.6–0.8 % of the face width on average; their cues
# are in the brows and lids, which FaceMesh smooths, and the one posed sad is a one-sided pout): fitted on EMFACS's
# units they reach a direction correlation of only 0.37, so those two follow EMFACS, angry at 1.5 × a strong
# brow lowering (at 1.3 it read as neutral on three of seven neutral photos).
EMOTION_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 1.0, "AU10": 0.3, "AU12": 1.1, "AU25": 0.8, "AU26": 0.15},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU17": 0.6, "AU43": 0.15},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU25": 0.6, "AU26": 0.9},
    "afraid": {"AU1": 1.2, "AU2": 0.5, "AU4": 0.7, "AU5": 1.3, "AU20": 1.4, "AU25": 0.9, "AU26": 0.3},
    "angry": {"AU4": 1.5, "AU5": 0.5, "AU7": 1.0, "AU9": 0.3, "AU10": 0.5, "AU17": 0.5, "AU23": 1.0, "AU25": 0.3},
    "disgusted": {"AU9": 1.2, "AU10": 1.2, "AU15": 0.4, "AU16": 0.6, "AU25": 0.6, "AU26": 0.3},
    "contemptuous": {"AU12R": 0.6, "AU14R": 1.0, "AU4": 0.2},
}
assert set(EMOTION_PROTOTYPES) == set(EMOTIONS)


def emotion_action_units(emotions: dict[str, float]) -> dict[str, float]:
    """Mix emotion prototypes: {emotion: weight} → {AU: intensity}, intensities clipped to [0, MAX_INTENSITY]."""
    mixed: dict[str, float] = {}
    for emotion, weight in emotions.items():
        for unit, value in EMOTION_PROTOTYPES[emotion].items():
            mixed[unit] = mixed.get(unit, 0.0) + weight * value
    return {unit: float(np.clip(value, 0.0, MAX_INTENSITY)) for unit, value in mixed.items() if value > 0}
