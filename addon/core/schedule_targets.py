"""What a schedule entry's target means on a face: its shape-key weights, or the prompts still to generate.

``expressions`` maps each expression name of the face to the prompt that made it. A target resolves by the
first rule that applies:

1. A neutral word (``neutral``, ``calm``, ``relaxed``, ``expressionless``) -> ``{}``: the rest face.
2. An expression's name -> ``{name: 1.0}`` (case- and whitespace-insensitive, as are the next two).
3. An expression's prompt -> ``{name: 1.0}``.
4. An emotion mixture (``70% happy + 30% surprised``, ``slightly happy``) with every weight at most 1 and an
   expression for each emotion -> ``{expression: weight}``. An emotion's expression is the first one *named*
   that emotion, else the first named a synonym of it, else the first whose *prompt* is the emotion or a
   synonym (``joy`` -> the ``happy`` expression). Neutral terms add nothing.

Anything else must be generated first: free text and action units as they are typed, a mixture as its
missing emotions (canonical words, so ``joy`` asks for ``happy``), and a mixture that goes above 1
(``very happy``) as its whole text, since shape keys stop at 1.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import PromptError, ScheduleError
from ..core.prompt_grammar import PromptKind, parse_prompt
from ..core.schedule import ScheduleEntry
from ..core.vocabulary import EMOTION_SYNONYMS, EMOTIONS

NEUTRAL = EMOTIONS[0]
MAX_WEIGHT = 1.0
"""A shape key's largest value (its slider maximum)."""


@dataclass(frozen=True)
class _Resolution:
    """Either the target's weights, or (weights None) the prompts to generate before it resolves."""

    weights: dict[str, float] | None
    needed: list[str]


def resolve_target(target: str, expressions: Mapping[str, str]) -> dict[str, float]:
    """The shape-key weights of a schedule target; ScheduleError saying what to generate when there are none."""
    resolution = _resolve(target, expressions)
    if resolution.weights is not None:
        return resolution.weights
    text = _normalise_whitespace(target)
    needed = ", ".join(f"'{prompt}'" for prompt in resolution.needed)
    what = "it" if resolution.needed == [text] else f"{needed} (for '{text}')"
    raise ScheduleError(
        f"schedule target '{text}' is not an expression of this face: generate {what} first. "
        f"Available: {_available(expressions)}"
    )


def missing_targets(entries: Sequence[ScheduleEntry], expressions: Mapping[str, str]) -> list[str]:
    """The prompts to generate so that every entry resolves: de-duplicated (ignoring case), in order.

    Raises ScheduleError for a target that is no valid prompt, since generating it would fail too.
    """
    missing: dict[str, str] = {}
    for entry in entries:
        for prompt in _resolve(entry.target, expressions).needed:
            missing.setdefault(prompt.lower(), prompt)
    return list(missing.values())


def _resolve(target: str, expressions: Mapping[str, str]) -> _Resolution:
    text = _normalise_whitespace(target)
    wanted = text.lower()
    if EMOTION_SYNONYMS.get(wanted) == NEUTRAL:
        return _Resolution({}, [])
    # The set's neutral expression is the face's Basis, never a shape key of its own.
    candidates = {name: prompt for name, prompt in expressions.items() if name != NEUTRAL}
    for name in candidates:
        if _normalise(name) == wanted:
            return _Resolution({name: 1.0}, [])
    for name, prompt in candidates.items():
        if _normalise(prompt) == wanted:
            return _Resolution({name: 1.0}, [])
    try:
        parsed = parse_prompt(text)
    except PromptError as error:
        raise ScheduleError(
            f"schedule target '{text}' is neither an expression of this face ({_available(expressions)}) "
            f"nor a prompt that could generate one: {error}"
        ) from error
    if parsed.kind != PromptKind.EMOTIONS:
        return _Resolution(None, [text])
    return _resolve_mixture(text, parsed.emotions, candidates)


def _resolve_mixture(text: str, emotions: dict[str, float], candidates: dict[str, str]) -> _Resolution:
    weights: dict[str, float] = {}
    missing: list[str] = []
    for emotion, weight in emotions.items():
        if emotion == NEUTRAL:
            continue
        name = _expression_for_emotion(emotion, candidates)
        if name is None:
            missing.append(emotion)
        else:
            weights[name] = weights.get(name, 0.0) + weight
    if any(weight > MAX_WEIGHT for weight in (*emotions.values(), *weights.values())):
        return _Resolution(None, [text])
    if missing:
        return _Resolution(None, missing)
    return _Resolution(weights, [])


def _expression_for_emotion(emotion: str, candidates: dict[str, str]) -> str | None:
    """The expression named ``emotion``, else one named a synonym of it, else one whose prompt is either."""
    tiers = (
        (name for name in candidates if _normalise(name) == emotion),
        (name for name in candidates if EMOTION_SYNONYMS.get(_normalise(name)) == emotion),
        (name for name, prompt in candidates.items() if EMOTION_SYNONYMS.get(_normalise(prompt)) == emotion),
    )
    return next((name for tier in tiers for name in tier), None)


def _available(expressions: Mapping[str, str]) -> str:
    names = [name for name in expressions if name != NEUTRAL]
    listed = ", ".join(names) if names else "none generated yet"
    return f"{listed}; '{NEUTRAL}' is always available"


def _normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def _normalise(text: str) -> str:
    return _normalise_whitespace(text).lower()
