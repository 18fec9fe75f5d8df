"""Prompt → action units: exact for mixtures and AU syntax; free text through the real offline MiniLM model."""
from itertools import pairwise

import numpy as np
import pytest

from addon.core.errors import PromptError
from backend.prompts.emotion_prototypes import EMOTION_PROTOTYPES, MAX_INTENSITY
from backend.prompts.text_to_action_units import TextEmotionModel, resolve_prompt, soft_mixture


@pytest.fixture(scope="module")
def text_model():
    return TextEmotionModel()


def no_text_model():
    raise AssertionError("the text model must not be loaded for this prompt")


def test_an_emotion_word_gives_its_prototype_without_the_text_model():
    intent = resolve_prompt("happy", no_text_model)
    assert intent.action_units == EMOTION_PROTOTYPES["happy"]
    assert intent.emotions == {"happy": 1.0}


def test_a_mixture_mixes_prototypes_linearly():
    intent = resolve_prompt("70% happy + 30% surprised", no_text_model)
    for unit in set(EMOTION_PROTOTYPES["happy"]) | set(EMOTION_PROTOTYPES["surprised"]):
        expected = 0.7 * EMOTION_PROTOTYPES["happy"].get(unit, 0) + 0.3 * EMOTION_PROTOTYPES["surprised"].get(unit, 0)
        assert intent.action_units[unit] == pytest.approx(expected)


def test_intensity_words_scale_and_clip():
    slight = resolve_prompt("slightly sad", no_text_model).action_units
    very = resolve_prompt("extremely sad", no_text_model).action_units
    assert slight["AU15"] == pytest.approx(0.4 * EMOTION_PROTOTYPES["sad"]["AU15"])
    assert very["AU15"] == MAX_INTENSITY  # 1.6 × 1.0 clipped to the AU range
    assert very["AU1"] > slight["AU1"]


@pytest.mark.parametrize("emotion, strongest", [("angry", "furious"), ("happy", "beaming"), ("sad", "heartbroken")])
def test_intensity_is_monotone_from_slight_to_the_strongest_words(text_model, emotion, strongest):
    """slightly < plain < very < extremely, and a strong word (free text) above the plain emotion."""
    def total(prompt):
        return sum(resolve_prompt(prompt, lambda: text_model).action_units.values())
    ladder = [total(f"slightly {emotion}"), total(emotion), total(f"very {emotion}"), total(f"extremely {emotion}")]
    assert ladder == sorted(ladder) and len(set(ladder)) == 4, ladder
    assert total(strongest) > ladder[1] * 1.2


def test_free_text_carries_a_weak_intensity_too(text_model):
    faint = resolve_prompt("a faint smile", lambda: text_model)
    assert max(faint.emotions, key=faint.emotions.get) == "happy"
    assert sum(faint.action_units.values()) < 0.6 * sum(EMOTION_PROTOTYPES["happy"].values())


def test_action_unit_syntax_is_taken_exactly():
    intent = resolve_prompt("AU12:0.8 AU6:0.5 AU43L", no_text_model)
    assert intent.action_units == {"AU12": 0.8, "AU6": 0.5, "AU43L": 1.0}
    assert intent.emotions is None


def test_free_text_reads_as_the_nearest_emotions(text_model):
    for text, emotion in (("a delighted surprise", "surprised"), ("furious", "angry"), ("heartbroken", "sad"),
                          ("terrified", "afraid")):
        intent = resolve_prompt(text, lambda: text_model)
        assert max(intent.emotions, key=intent.emotions.get) == emotion, text
        assert intent.warnings == []


def test_free_text_intensity_words_scale_the_mixture(text_model):
    plain = resolve_prompt("furious", lambda: text_model)
    slight = resolve_prompt("slightly furious", lambda: text_model)
    assert sum(slight.emotions.values()) == pytest.approx(0.4 * sum(plain.emotions.values()))


def test_text_without_emotion_gets_the_nearest_mixture_and_a_warning(text_model):
    intent = resolve_prompt("a bicycle", lambda: text_model)
    assert intent.action_units  # still an expression, never an empty result
    assert len(intent.warnings) == 1 and "no clear emotion" in intent.warnings[0]


def test_soft_mixture_keeps_the_strong_shares_and_sums_to_one():
    mixture = soft_mixture({"happy": 0.70, "surprised": 0.69, "sad": 0.30, "angry": 0.2})
    assert set(mixture) == {"happy", "surprised"}
    assert sum(mixture.values()) == pytest.approx(1.0)
    assert mixture["happy"] > mixture["surprised"]


def test_an_empty_prompt_is_refused():
    with pytest.raises(PromptError):
        resolve_prompt("   ", no_text_model)


def test_intensity_words_give_monotone_landmark_motion(subject, text_model):
    """The same ladder, measured where a person sees it: how far the landmarks move (mean, face widths)."""
    def motion(prompt):
        units = resolve_prompt(prompt, lambda: text_model).action_units
        return float(np.linalg.norm(subject.action_units.displacement(units), axis=1).mean() / subject.frame.width)
    for emotion in ("angry", "sad", "surprised"):
        ladder = [motion(f"slightly {emotion}"), motion(emotion), motion(f"very {emotion}"),
                  motion(f"extremely {emotion}")]
        assert all(low < high for low, high in pairwise(ladder)), (emotion, ladder)
    assert motion("furious") > 1.2 * motion("angry")
