"""The schedule grammar and its keyframes: ``neutral 0.5s, happy 1s, surprised 0.5s @0.3s, neutral``.

Entries are separated by commas; each reads ``TARGET [DURATION] [@TRANSITION]``. TARGET is an expression
name or a prompt (a mixture such as ``70% happy + 30% surprised`` has no commas; action units inside a
schedule must be separated by spaces, not commas). DURATION is how long the target is held at full weight
(``1s``, ``0.5s``, ``500ms``; none means it is passed straight through). ``@TRANSITION`` is the time of the
change into the entry; without it the default applies. The keys are meant to be interpolated with
ease-in-out between them.

A schedule that *continues* an existing timeline (``continues=True``) may give its first entry a transition
too: the change from where the timeline ends into that entry.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import ScheduleError
from ..core.prompt_grammar import NUMBER

DEFAULT_TRANSITION_S = 0.3
DEFAULT_HOLD_S = 1.0
"""How long a default schedule holds each expression (`promptface animate` without --schedule, the panel's
growing timeline)."""
DEFAULT_LEAD_IN_S = 0.5
"""How long a default schedule holds the neutral before the first expression."""

_DURATION = re.compile(rf"(?P<number>{NUMBER})(?P<unit>ms|s)")
_BARE_NUMBER = re.compile(NUMBER)
_DURATION_LIKE = re.compile(rf"{NUMBER}[a-z]*")
_UNIT_SECONDS = {"s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class ScheduleEntry:
    """One entry of a schedule."""

    target: str
    """As written (whitespace-normalised): an expression name or a prompt."""
    hold_s: float
    """Seconds held at full weight; 0.0 when no duration was given."""
    transition_s: float | None
    """Seconds of the transition into this entry; None means the default."""


@dataclass(frozen=True)
class Key:
    """The weight of every expression of the schedule at one moment."""

    time_s: float
    weights: dict[str, float]
    """Every expression named anywhere in the schedule -> its weight here (0.0 when absent)."""


def parse_schedule(text: str, *, continues: bool = False) -> list[ScheduleEntry]:
    """Parse a schedule; raise ScheduleError naming the entry and its position when it cannot.

    ``continues``: the schedule is appended to an existing timeline, so its first entry may have a transition.
    """
    if not text.strip():
        raise ScheduleError(
            "empty schedule: write entries separated by commas, e.g. 'neutral 0.5s, happy 1s, neutral'"
        )
    pieces = text.split(",")
    return [_parse_entry(piece, position, len(pieces), continues) for position, piece in enumerate(pieces, start=1)]


def schedule_keys(
    entries: Sequence[ScheduleEntry],
    resolve: Callable[[str], Mapping[str, float]],
    default_transition_s: float = DEFAULT_TRANSITION_S,
    *,
    continues: bool = False,
) -> list[Key]:
    """Keys for the schedule: each entry at full weight when it begins and ends its hold.

    ``resolve(target)`` gives the expression weights of an entry (``"neutral"`` typically ``{}``).
    Its ScheduleError or PromptError passes through; a LookupError becomes a ScheduleError.
    Times start at 0.0 on the first entry; with ``continues`` they start at 0.0 where the continued timeline
    ends, so the first key comes after the first entry's transition (its own or the default).
    """
    if not entries:
        raise ScheduleError("empty schedule: there are no entries to make keys from")
    _check_transition(default_transition_s, "the default transition")
    entry_weights = [_resolve_entry(entry, position, resolve) for position, entry in enumerate(entries, start=1)]
    names = _expression_names(entry_weights)
    keys: list[Key] = []
    time_s = 0.0
    for position, (entry, weights) in enumerate(zip(entries, entry_weights, strict=True), start=1):
        _check_entry_timing(entry, position, continues)
        if position > 1 or continues:
            time_s += default_transition_s if entry.transition_s is None else entry.transition_s
        keys.append(_key(time_s, weights, names))
        if entry.hold_s > 0.0:
            time_s += entry.hold_s
            keys.append(_key(time_s, weights, names))
    return keys


def schedule_duration(keys: Sequence[Key]) -> float:
    """Seconds from the first key to the last; 0.0 for no keys."""
    return keys[-1].time_s if keys else 0.0


def format_schedule(entries: Sequence[ScheduleEntry]) -> str:
    """The schedule text of ``entries``, which ``parse_schedule`` reads back to the same entries."""
    return ", ".join(_format_entry(entry) for entry in entries)


# --- parsing ------------------------------------------------------------------------------------


def _parse_entry(piece: str, position: int, count: int, continues: bool) -> ScheduleEntry:
    where = _entry_where(piece, position)
    words = _glue_units(" ".join(piece.split())).split()
    if not words:
        raise ScheduleError(
            f"entry {position} of {count} is empty (two commas in a row, or a comma at an end?): "
            "remove the extra comma"
        )
    transition_s = None
    if words[-1].startswith("@"):
        transition_s = _parse_seconds(words.pop()[1:], where, "transition")
        _check_transition_into(position, transition_s, where, continues)
    stray = [word for word in words if word.startswith("@")]
    if stray:
        raise ScheduleError(f"{where}: put the transition '{stray[0]}' last, after the expression and its duration")
    hold_s = 0.0
    if words and _DURATION_LIKE.fullmatch(words[-1]):
        hold_s = _parse_seconds(words.pop(), where, "duration")
        _check_hold(hold_s, where)
    if words and _DURATION_LIKE.fullmatch(words[-1]):
        raise ScheduleError(f"{where} has two durations ('{words[-1]}' …): give one, e.g. 'happy 1s'")
    if not words:
        raise ScheduleError(f"{where} has no expression: write what to show before the time, e.g. 'happy 1s'")
    return ScheduleEntry(target=" ".join(words), hold_s=hold_s, transition_s=transition_s)


def _glue_units(entry_text: str) -> str:
    # "0.5 s" -> "0.5s" and "@ 0.3s" -> "@0.3s", so that each time is one word.
    glued = re.sub(r"(\d)\s+(ms|s)\b", r"\1\2", entry_text)
    return re.sub(r"@\s+", "@", glued)


def _parse_seconds(word: str, where: str, what: str) -> float:
    match = _DURATION.fullmatch(word)
    if match:
        return float(match["number"]) * _UNIT_SECONDS[match["unit"]]
    if _BARE_NUMBER.fullmatch(word):
        raise ScheduleError(f"{where}: the {what} '{word}' has no unit: write '{word}s' (seconds) or '{word}ms'")
    raise ScheduleError(
        f"{where}: cannot read the {what} '{word}': write seconds like '1s' or '0.5s', or milliseconds like '500ms'"
    )


def _entry_where(piece: str, position: int) -> str:
    return f"entry {position} ('{' '.join(piece.split())}')"


def _format_entry(entry: ScheduleEntry) -> str:
    words = [entry.target]
    if entry.hold_s:
        words.append(_format_seconds(entry.hold_s))
    if entry.transition_s is not None:
        words.append("@" + _format_seconds(entry.transition_s))
    return " ".join(words)


def _format_seconds(seconds: float) -> str:
    # To the microsecond, like key times, and never in exponent notation (which the grammar does not read).
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


# --- checks shared by parsing and key making ------------------------------------------------------


def _check_hold(hold_s: float, where: str) -> None:
    if hold_s <= 0.0:
        raise ScheduleError(
            f"{where}: a hold must be longer than zero (got {hold_s:g}s); leave the duration out to pass "
            "straight through"
        )


def _check_transition(transition_s: float, where: str) -> None:
    if transition_s <= 0.0:
        raise ScheduleError(
            f"{where}: a transition must be longer than zero (got {transition_s:g}s); "
            "use a short one such as '@0.05s' for a quick change"
        )


def _check_transition_into(position: int, transition_s: float, where: str, continues: bool) -> None:
    if position == 1 and not continues:
        raise ScheduleError(
            f"{where} has a transition, but nothing comes before the first entry to transition from: "
            "remove its '@…', or start the schedule with e.g. 'neutral'"
        )
    _check_transition(transition_s, where)


def _check_entry_timing(entry: ScheduleEntry, position: int, continues: bool) -> None:
    where = f"entry {position} ('{entry.target}')"
    if entry.hold_s != 0.0:
        _check_hold(entry.hold_s, where)
    if entry.transition_s is not None:
        _check_transition_into(position, entry.transition_s, where, continues)


# --- keys ---------------------------------------------------------------------------------------


def _resolve_entry(
    entry: ScheduleEntry, position: int, resolve: Callable[[str], Mapping[str, float]]
) -> dict[str, float]:
    try:
        return dict(resolve(entry.target))
    except LookupError as error:
        raise ScheduleError(
            f"entry {position} ('{entry.target}') names no known expression ({error}): generate it first "
            "or check its spelling"
        ) from error


def _expression_names(entry_weights: list[dict[str, float]]) -> list[str]:
    """Every expression name, in order of first appearance."""
    return list(dict.fromkeys(name for weights in entry_weights for name in weights))


def _key(time_s: float, weights: dict[str, float], names: list[str]) -> Key:
    # Rounded to the microsecond so sums like 0.1 + 0.2 give clean key times.
    return Key(round(time_s, 6), {name: float(weights.get(name, 0.0)) for name in names})
