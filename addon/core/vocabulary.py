"""Words the prompt grammar understands: emotions, their synonyms, intensity words, action units.

Shared by the add-on (to validate what a user types) and the backend (whose action-unit model
must provide a displacement field for every name in ACTION_UNITS).
"""

# The basic emotions of the EMFACS prototypes, in a fixed order used for mixtures.
EMOTIONS = ("neutral", "happy", "sad", "surprised", "afraid", "angry", "disgusted", "contemptuous")

# Single words that name an emotion exactly; anything else goes to the text model.
EMOTION_SYNONYMS = {
    **{name: name for name in EMOTIONS},
    "calm": "neutral", "relaxed": "neutral", "expressionless": "neutral",
    "happiness": "happy", "joy": "happy", "joyful": "happy", "smiling": "happy", "smile": "happy",
    "glad": "happy",
    "sadness": "sad", "unhappy": "sad", "sorrowful": "sad",
    "surprise": "surprised", "astonished": "surprised", "amazed": "surprised",
    "fear": "afraid", "fearful": "afraid", "scared": "afraid", "frightened": "afraid",
    "anger": "angry", "mad": "angry",
    "disgust": "disgusted",
    "contempt": "contemptuous", "scornful": "contemptuous",
}

# Intensity words and the factor they apply to what follows them.
INTENSITY_WORDS = {
    "barely": 0.25,
    "slightly": 0.4,
    "a little": 0.5,
    "a bit": 0.5,
    "mildly": 0.5,
    "somewhat": 0.7,
    "moderately": 0.8,
    "quite": 1.1,
    "very": 1.3,
    "really": 1.3,
    "deeply": 1.4,
    "extremely": 1.6,
    "intensely": 1.6,
}

# FACS action units the CPU engine can move, with their FACS names.
ACTION_UNITS = {
    "AU1": "inner brow raiser",
    "AU2": "outer brow raiser",
    "AU4": "brow lowerer",
    "AU5": "upper lid raiser",
    "AU6": "cheek raiser",
    "AU7": "lid tightener",
    "AU9": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU16": "lower lip depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU27": "mouth stretch",
    "AU43": "eyes closed",
}

# Action units that exist on one side of the face only ("AU12L" = the subject's left).
LATERAL_ACTION_UNITS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU10", "AU12", "AU14", "AU15", "AU20", "AU43")


def all_action_unit_names() -> tuple[str, ...]:
    """Every accepted action-unit name: the bilateral ones, then the L/R variants."""
    lateral = tuple(f"{au}{side}" for au in LATERAL_ACTION_UNITS for side in ("L", "R"))
    return tuple(ACTION_UNITS) + lateral
