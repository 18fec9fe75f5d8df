"""The prompt grammar: what a user types for one expression, parsed into one of three kinds.

- Emotion mixture: ``70% happy + 30% surprised``, ``very happy``, ``happy and surprised``.
  Each term is ``[weight] [intensity words] emotion``. A weight is a percentage (``70%``, ``70 %``) or a
  fraction (``0.7``) in (0, 1]. Weights need not sum to 100%: ``50% happy`` is happy at half intensity.
  Without any weights the terms split 1.0 equally. Intensity words multiply their term's weight, so
  ``very happy`` is ``{happy: 1.3}``. The same emotion twice adds up.
- Action units: ``AU12:0.8 AU6:0.5`` (spaces or commas between tokens). A value is a fraction in [0, 1]
  or a percentage; a bare name means 1.0. ``AU12L``/``AU12R`` move one side of the face.
- Free text: anything else, for the text model. Intensity words (``very``, ``a little``) are taken out
  and their factors multiplied into ``intensity``; ``a little girl smiling`` therefore reads as
  ``girl smiling`` at half intensity.
"""

import math
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..core.errors import PromptError
from ..core.vocabulary import (
    ACTION_UNITS,
    EMOTION_SYNONYMS,
    EMOTIONS,
    INTENSITY_WORDS,
    LATERAL_ACTION_UNITS,
    all_action_unit_names,
)

MAX_PROMPT_CHARS = 200
MAX_NAME_CHARS = 40
FALLBACK_NAME = "expression"


class PromptKind(StrEnum):
    """What a prompt is; each member is its own string (the names JSON and logs carry)."""

    EMOTIONS = "emotions"
    ACTION_UNITS = "action_units"
    FREE_TEXT = "free_text"


NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
"""A decimal number as the prompt and schedule grammars write it: 70, 0.8, .5, 2., -1."""
_AMOUNT = re.compile(rf"(?P<number>{NUMBER})(?P<percent>%?)")
_ACTION_UNIT_LIKE = re.compile(r"au\d+\w*(?::\S*)?")
_ACTION_UNIT_NAME = re.compile(r"au0*(?P<number>\d+)(?P<side>[lr]?)")
_LONGEST_INTENSITY_FIRST = sorted(INTENSITY_WORDS, key=len, reverse=True)
_INTENSITY_PHRASE = re.compile(
    r"(?<![\w'])(" + "|".join(map(re.escape, _LONGEST_INTENSITY_FIRST)) + r")(?![\w'])",
    re.IGNORECASE,
)
_MIXTURE_SEPARATOR = re.compile(r"\+|\band\b")


@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt, understood. Only the fields of its ``kind`` are filled; the others are empty."""

    text: str
    """The prompt as typed, whitespace-normalised."""
    kind: PromptKind
    emotions: dict[str, float]
    """Canonical emotion name -> weight, intensity words already applied (may exceed 1)."""
    action_units: dict[str, float]
    """Action-unit name (``"AU12"``, ``"AU12L"``) -> intensity in [0, 1]."""
    free_text: str
    """The text for the text model, intensity words removed."""
    intensity: float
    """Product of the intensity words in free text (1.0 if none); 1.0 for the other kinds."""


@dataclass(frozen=True)
class _EmotionTerm:
    """One ``[weight] [intensity words] emotion`` term of a mixture, as typed."""

    weight: float | None
    intensity_words: tuple[str, ...]
    word: str
    emotion: str


def parse_prompt(text: str) -> ParsedPrompt:
    """Parse one prompt; raise PromptError saying what to change when it cannot be understood."""
    normalised = _normalise_whitespace(text)
    _check_prompt_text(normalised)
    action_units = _parse_action_units(normalised)
    if action_units is not None:
        return _parsed(normalised, PromptKind.ACTION_UNITS, action_units=action_units)
    terms = _parse_emotion_terms(normalised)
    if terms is not None:
        return _parsed(normalised, PromptKind.EMOTIONS, emotions=_mixture_weights(terms))
    free_text, intensity = _strip_intensity_words(normalised)
    return _parsed(normalised, PromptKind.FREE_TEXT, free_text=free_text, intensity=intensity)


def expression_name(prompt: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A name for the prompt's expression, safe for files, Blender shape keys and Unity blendshapes.

    Lowercase ASCII letters, digits and ``_``, at most MAX_NAME_CHARS long, never empty, not in ``taken``
    (``_2``, ``_3``… is appended). Weights become percentages after their word:
    ``70% happy + 30% surprised`` -> ``happy70_surprised30``, ``AU12:0.8 AU6:0.5`` -> ``au12_80_au6_50``
    (an action unit at 1.0 keeps its bare name). Free text, and text that is no valid prompt, is slugged
    word by word.
    """
    base = _truncate_name(_join_name_words(_name_words(prompt)), MAX_NAME_CHARS) or FALLBACK_NAME
    return _unique_name(base, taken)


# The names a set gives what calibration makes: the neutral, and the photo as taken when its own expression was
# removed from the neutral. Prompts never get them ("base" would make NAME.obj overwrite base.obj).
NEUTRAL_NAME = "neutral"
AS_PHOTOGRAPHED_NAME = "as_photographed"
AS_PHOTOGRAPHED_PROMPT = "as photographed"  # the prompt text recorded for it
RESERVED_EXPRESSION_NAMES = frozenset({NEUTRAL_NAME, AS_PHOTOGRAPHED_NAME, "base"})


def prompt_expression_names(prompts: list[str]) -> list[str]:
    """The file-safe expression name each prompt gets in a set, in order: unique, never a reserved name. Both the
    backend (naming the set) and the add-on (planning a schedule before the set exists) use this one rule."""
    taken, names = set(RESERVED_EXPRESSION_NAMES), []
    for prompt in prompts:
        names.append(expression_name(prompt, taken))
        taken.add(names[-1])
    return names


# --- checks and small helpers -------------------------------------------------------------------


def _normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def _check_prompt_text(normalised: str) -> None:
    if not normalised:
        raise PromptError(
            "empty prompt: type an expression such as 'happy', '70% happy + 30% surprised', "
            "'AU12:0.8 AU6:0.5' or 'a delighted surprise'"
        )
    if len(normalised) > MAX_PROMPT_CHARS:
        raise PromptError(
            f"prompt is {len(normalised)} characters long; the limit is {MAX_PROMPT_CHARS}: "
            "shorten it to the words that describe the expression"
        )
    if not any(character.isalpha() for character in normalised):
        raise PromptError(f"prompt '{normalised}' has no words: describe an expression, e.g. 'happy'")


def _parsed(
    text: str,
    kind: PromptKind,
    *,
    emotions: dict[str, float] | None = None,
    action_units: dict[str, float] | None = None,
    free_text: str = "",
    intensity: float = 1.0,
) -> ParsedPrompt:
    return ParsedPrompt(
        text=text,
        kind=kind,
        emotions=emotions or {},
        action_units=action_units or {},
        free_text=free_text,
        intensity=intensity,
    )


def _parse_amount(text: str) -> float | None:
    """``"70%"`` or ``"0.7"`` -> 0.7 (no range check); None when the text is no number."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        return None
    number = float(match["number"])
    return number / 100.0 if match["percent"] else number


# --- action units -------------------------------------------------------------------------------


def _parse_action_units(normalised: str) -> dict[str, float] | None:
    """Action-unit name -> intensity, or None when the prompt has no action-unit tokens at all."""
    tokens = _action_unit_tokens(normalised.lower())
    others = [token for token in tokens if not _ACTION_UNIT_LIKE.fullmatch(token)]
    if len(others) == len(tokens):
        return None
    if others:
        raise PromptError(
            f"prompt '{normalised}' mixes action units with other words ('{others[0]}'): write either "
            "action units only, e.g. 'AU12:0.8 AU6:0.5', or words only, e.g. 'a gentle smile'"
        )
    action_units: dict[str, float] = {}
    for token in tokens:
        name, value = _parse_action_unit_token(token)
        if name in action_units:
            raise PromptError(f"action unit {name} appears twice in '{normalised}': give each one once")
        action_units[name] = value
    return action_units


def _action_unit_tokens(lowered: str) -> list[str]:
    # Glue "AU12 : 80 %" into one token before splitting on spaces and commas.
    glued = re.sub(r"\s*:\s*", ":", lowered)
    glued = re.sub(r"(\d)\s+%", r"\1%", glued)
    return [token for token in re.split(r"[\s,]+", glued) if token]


def _parse_action_unit_token(token: str) -> tuple[str, float]:
    name_text, _, value_text = token.partition(":")
    name = _action_unit_name(name_text, token)
    if ":" not in token:
        return name, 1.0
    if not value_text:
        raise PromptError(f"'{token.upper()}' has no value after ':': write e.g. '{name}:0.8' or just '{name}'")
    value = _parse_amount(value_text)
    if value is None:
        raise PromptError(
            f"action unit value '{value_text}' in '{token.upper()}' is not a number: "
            f"write e.g. '{name}:0.8' or '{name}:80%'"
        )
    if not 0.0 <= value <= 1.0:
        raise PromptError(
            f"action unit value '{value_text}' in '{token.upper()}' is outside 0–1 (0–100%): "
            f"write e.g. '{name}:0.8' or '{name}:80%'"
        )
    return name, value


def _action_unit_name(name_text: str, token: str) -> str:
    match = _ACTION_UNIT_NAME.fullmatch(name_text)
    name = f"AU{int(match['number'])}{match['side'].upper()}" if match else name_text.upper()
    if name in all_action_unit_names():
        return name
    bilateral = name.rstrip("LR")
    if match and match["side"] and bilateral in ACTION_UNITS:
        raise PromptError(
            f"action unit {bilateral} in '{token.upper()}' has no one-sided form {name}; "
            f"one-sided forms exist for: {', '.join(LATERAL_ACTION_UNITS)}"
        )
    raise PromptError(
        f"unknown action unit '{name_text.upper()}' in '{token.upper()}'; known: {', '.join(ACTION_UNITS)} "
        f"(add L or R for one side of: {', '.join(LATERAL_ACTION_UNITS)})"
    )


# --- emotion mixtures ---------------------------------------------------------------------------


def _parse_emotion_terms(normalised: str) -> list[_EmotionTerm] | None:
    """The mixture's terms, or None when the prompt is not a mixture (and so is free text).

    A prompt with "+" or "%" must be a mixture; one joined only by "and" is a mixture only when
    every part is an emotion term ("calm and collected" stays free text).
    """
    lowered = _glue_percent_signs(normalised.lower())
    pieces = [piece.strip() for piece in _MIXTURE_SEPARATOR.split(lowered)]
    terms = [_parse_emotion_term(piece) for piece in pieces]
    if all(term is not None for term in terms):
        _check_weights_given_to_all_or_none(terms, normalised)
        return terms
    if "+" in lowered or "%" in lowered:
        failing = next(piece for piece, term in zip(pieces, terms, strict=True) if term is None)
        raise PromptError(_why_not_emotion_term(failing, normalised))
    return None


def _glue_percent_signs(lowered: str) -> str:
    glued = re.sub(r"(\d)\s+%", r"\1%", lowered)
    return re.sub(r"%(?=[^\s+])", "% ", glued)  # "70%happy" -> "70% happy"


def _parse_emotion_term(piece: str) -> _EmotionTerm | None:
    """``[weight] [intensity words] emotion`` -> the term; None when the piece has another shape."""
    words = piece.split()
    weight = _parse_amount(words[0]) if words else None
    if weight is not None:
        words = words[1:]
    if not words or words[-1] not in EMOTION_SYNONYMS:
        return None
    intensity_words = _split_intensity_words(words[:-1])
    if intensity_words is None:
        return None
    if weight is not None:
        _check_mixture_weight(weight, piece.split()[0], piece)
    return _EmotionTerm(weight, intensity_words, words[-1], EMOTION_SYNONYMS[words[-1]])


def _split_intensity_words(words: list[str]) -> tuple[str, ...] | None:
    """Words -> intensity phrases (two-word phrases first); None when any word is not part of one."""
    phrases: list[str] = []
    index = 0
    while index < len(words):
        pair = " ".join(words[index : index + 2])
        if index + 1 < len(words) and pair in INTENSITY_WORDS:
            phrases.append(pair)
            index += 2
        elif words[index] in INTENSITY_WORDS:
            phrases.append(words[index])
            index += 1
        else:
            return None
    return tuple(phrases)


def _check_mixture_weight(weight: float, weight_text: str, piece: str) -> None:
    if weight <= 0.0:
        raise PromptError(
            f"weight '{weight_text}' in '{piece}' must be above zero: leave the term out instead"
        )
    if weight > 1.0:
        raise PromptError(
            f"weight '{weight_text}' in '{piece}' is above 100%: write a percentage up to 100% "
            "or a fraction up to 1 (use 'very' or 'extremely' to go stronger)"
        )


def _check_weights_given_to_all_or_none(terms: list[_EmotionTerm], normalised: str) -> None:
    unweighted = [term.word for term in terms if term.weight is None]
    if unweighted and len(unweighted) < len(terms):
        raise PromptError(
            f"'{unweighted[0]}' has no weight but other terms of '{normalised}' do: "
            "give every term a weight (e.g. '70% happy + 30% surprised') or none ('happy + surprised')"
        )


def _why_not_emotion_term(piece: str, normalised: str) -> str:
    where = f"'{piece}' in '{normalised}'" if piece else f"an empty term in '{normalised}'"
    words = piece.split()
    if words and _parse_amount(words[0]) is not None:
        words = words[1:]
    if words and words[-1] in EMOTION_SYNONYMS:
        modifiers = " ".join(words[:-1])
        reason = f"'{modifiers}' is not made of intensity words (known: {', '.join(INTENSITY_WORDS)})"
    else:
        reason = f"a term must end in an emotion word (e.g. {', '.join(EMOTIONS)}, or a synonym such as 'joy')"
    return (
        f"{where} is not an emotion term: {reason}. Mixtures read '[weight] [intensity] emotion' joined "
        "by '+', e.g. '70% happy + 30% surprised'; for a free description, leave out '+' and '%'"
    )


def _mixture_weights(terms: list[_EmotionTerm]) -> dict[str, float]:
    equal_share = 1.0 / len(terms)
    weights: dict[str, float] = {}
    for term in terms:
        base = equal_share if term.weight is None else term.weight
        weight = base * _intensity_factor(term.intensity_words)
        weights[term.emotion] = weights.get(term.emotion, 0.0) + weight
    return weights


def _intensity_factor(phrases: Sequence[str]) -> float:
    return math.prod((INTENSITY_WORDS[phrase.lower()] for phrase in phrases), start=1.0)


# --- free text ----------------------------------------------------------------------------------


def _strip_intensity_words(normalised: str) -> tuple[str, float]:
    phrases = _INTENSITY_PHRASE.findall(normalised)
    remainder = _tidy_text(_INTENSITY_PHRASE.sub(" ", normalised))
    if not any(character.isalpha() for character in remainder):
        raise PromptError(
            f"prompt '{normalised}' has only intensity words: add what they intensify, e.g. 'very happy'"
        )
    return remainder, _intensity_factor(phrases)


def _tidy_text(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?])", r"\1", _normalise_whitespace(text))
    return text.strip(" ,;:")


# --- names --------------------------------------------------------------------------------------


def _name_words(prompt: str) -> list[str]:
    try:
        parsed = parse_prompt(prompt)
    except PromptError:
        return [_normalise_whitespace(prompt)]
    if parsed.kind == PromptKind.ACTION_UNITS:
        return [_action_unit_name_part(name, value) for name, value in parsed.action_units.items()]
    if parsed.kind == PromptKind.EMOTIONS:
        return [_emotion_term_name_part(term) for term in _parse_emotion_terms(parsed.text)]
    return [parsed.text]


def _action_unit_name_part(name: str, value: float) -> str:
    return name if value == 1.0 else f"{name} {_name_number(value)}"


def _emotion_term_name_part(term: _EmotionTerm) -> str:
    words = " ".join((*term.intensity_words, term.word))
    return words if term.weight is None else words + _name_number(term.weight)


def _name_number(fraction: float) -> str:
    return f"{fraction * 100:.3g}".replace(".", "_")


def _join_name_words(parts: list[str]) -> str:
    ascii_text = unicodedata.normalize("NFKD", " ".join(parts)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def _truncate_name(name: str, limit: int) -> str:
    """Cut to ``limit`` characters, at a word boundary when one is inside the limit."""
    if len(name) <= limit:
        return name
    cut = name[:limit]
    if name[limit] != "_" and "_" in cut:
        cut = cut.rsplit("_", 1)[0]
    return cut.strip("_")


def _unique_name(base: str, taken: Collection[str]) -> str:
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"_{number}"
        name = _truncate_name(base, MAX_NAME_CHARS - len(suffix)) + suffix
    return name
