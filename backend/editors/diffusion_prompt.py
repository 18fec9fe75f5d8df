"""A prompt as the words a text-to-image model reads: what goes into DiffEdit's prompt template.

Free text stays as typed; an emotion mixture becomes emotion words with intensity adverbs ("70% happy + 30%
surprised" → "somewhat happy and barely surprised"); action units become their FACS names.
"""
from addon.core.prompt_grammar import ParsedPrompt, PromptKind
from addon.core.vocabulary import ACTION_UNITS, INTENSITY_WORDS

LEADING_ARTICLES = ("a ", "an ", "the ")
SIDES = {"L": "left", "R": "right"}


def diffusion_text(prompt: ParsedPrompt) -> str:
    """The words for the template's {prompt} slot; never empty."""
    if prompt.kind == PromptKind.EMOTIONS:
        return emotion_words(prompt.emotions)
    if prompt.kind == PromptKind.ACTION_UNITS:
        return action_unit_words(prompt.action_units)
    return without_leading_article(prompt.text)


def emotion_words(emotions: dict[str, float]) -> str:
    """Emotion names, strongest first, each with the intensity word nearest its weight (none near 1)."""
    ranked = sorted(((weight, name) for name, weight in emotions.items() if weight >= 0.05), reverse=True)
    if not ranked:
        return "neutral"
    return " and ".join(f"{intensity_word(weight)} {name}".strip() for weight, name in ranked)


def intensity_word(weight: float) -> str:
    if abs(weight - 1.0) < 0.1:
        return ""
    return min(INTENSITY_WORDS, key=lambda word: abs(INTENSITY_WORDS[word] - weight))


def action_unit_words(action_units: dict[str, float]) -> str:
    """FACS names of the action units, strongest first, with the side for one-sided units."""
    ranked = sorted(action_units.items(), key=lambda item: -item[1])
    words = []
    for unit, value in ranked:
        side = SIDES.get(unit[-1]) if unit[-1] in SIDES else None
        name = ACTION_UNITS[unit[:-1] if side else unit]
        words.append(" ".join(part for part in (intensity_word(value), side, name) if part))
    return ", ".join(words) or "neutral"


def without_leading_article(text: str) -> str:
    """'a delighted surprise' → 'delighted surprise' (the template already says 'a ... facial expression')."""
    lowered = text.lower()
    for article in LEADING_ARTICLES:
        if lowered.startswith(article) and len(text) > len(article):
            return text[len(article):]
    return text
