"""Prompts as the words DiffEdit's template reads."""
import pytest

from addon.core.prompt_grammar import parse_prompt
from backend.editors.diffusion_prompt import diffusion_text


@pytest.mark.parametrize("prompt, words", [
    ("happy", "happy"),
    ("70% happy + 30% surprised", "somewhat happy and barely surprised"),
    ("very angry", "very angry"),
    ("a delighted surprise", "delighted surprise"),
    ("An awkward grin", "awkward grin"),
    ("AU12:1 AU6:0.5", "lip corner puller, a little cheek raiser"),
    ("AU12L:0.8", "moderately left lip corner puller"),
    ("neutral", "neutral"),
])
def test_prompt_words(prompt, words):
    assert diffusion_text(parse_prompt(prompt)) == words
