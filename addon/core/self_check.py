"""The expression self-check, read the same way on both sides: what a prompt asked for, what the backend's
expression recogniser read ("reads_as": {class: probability}), and whether the two agree.

Pure Python: the backend writes its warning with it, the Blender panel labels each shape key with it.
"""


def asked_emotion(weights: dict | None) -> str | None:
    """The emotion a prompt asked for most ({emotion: weight} → its largest), None when it named none."""
    if not weights:
        return None
    emotion, weight = max(weights.items(), key=lambda item: item[1])
    return emotion if weight > 0 else None


def top_reading(reads_as: dict | None) -> tuple[str, float] | None:
    """(class, probability) the recogniser read most; None when the expression was not scored."""
    if not reads_as:
        return None
    name, probability = max(reads_as.items(), key=lambda item: item[1])
    return name, float(probability)


def agrees(weights: dict | None, reads_as: dict | None) -> bool | None:
    """True when the recogniser's top class is the emotion asked for; None when that cannot be judged (nothing
    asked, not scored, or an emotion the recogniser has no class for, such as contempt)."""
    asked, top = asked_emotion(weights), top_reading(reads_as)
    if asked is None or top is None or asked not in reads_as:
        return None
    return top[0] == asked


def reading_label(weights: dict | None, reads_as: dict | None) -> str:
    """A short label for a person: 'reads as happy 82%' (+ ', asked sad' when they disagree)."""
    top = top_reading(reads_as)
    if top is None:
        return "not scored"
    label = f"reads as {top[0]} {round(100 * top[1])}%"
    return label if agrees(weights, reads_as) is not False else f"{label}, asked {asked_emotion(weights)}"


def mismatch_warning(weights: dict | None, reads_as: dict | None) -> str | None:
    """The manifest warning when the recogniser's top class is not what was asked; None otherwise."""
    if agrees(weights, reads_as) is not False:
        return None
    asked, (top, probability) = asked_emotion(weights), top_reading(reads_as)
    read = f"the expression self-check reads this as {top} ({probability:.0%}), not {asked} ({reads_as[asked]:.0%})"
    if asked == "neutral":
        return f"{read}: the photo's own expression shows through (a smile's cheeks, creases, teeth)"
    return f"{read}; try a stronger wording ('very {asked}') or another editor"
