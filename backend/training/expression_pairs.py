"""Training pairs (neutral photo → expression photo of the same person) for the LoRA trainer, and their split.

Two layouts are understood:
- KDEF: `[A|B][F|M]NN EE AA.JPG` (session A/B, gender F/M, id 01–35, expression AF AN DI HA NE SA SU, angle FL HL S
  HR FR) files, usually in per-person subfolders, searched recursively. Photos are
  paired by (session, gender, id, angle); the neutral (NE) photo is the input for each of the other six expressions,
  whose code becomes the prompt word (HA → "happy"). Only the straight angle `S` is used unless told otherwise.
- Any folder with a `pairs.csv` (columns neutral, expression, prompt, identity; optional angle), paths relative to it.

The validation split is by identity, so no person is seen in both training and validation. In KDEF the sessions A and
B are two photo series of the same 70 people, so the identity is gender + id (AF01 and BF01 are both "F01").
"""
import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from addon.core.errors import PromptFaceError

KDEF_NAME = re.compile(r"^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.jpe?g$", re.IGNORECASE)
NEUTRAL_CODE = "NE"
EMOTION_WORDS = {"AF": "afraid", "AN": "angry", "DI": "disgusted", "HA": "happy", "SA": "sad", "SU": "surprised"}
KDEF_ANGLES = ("S", "HL", "HR", "FL", "FR")
PAIRS_CSV = "pairs.csv"
CSV_COLUMNS = ("neutral", "expression", "prompt", "identity")
LISTED = 5  # names shown in a message before "and N more"


@dataclass(frozen=True)
class ExpressionPair:
    neutral: Path
    """The neutral photo (the input)."""
    expression: Path
    """The same person's photo with the expression (the target)."""
    prompt: str
    """The expression word(s) that go into the prompt template, e.g. "happy"."""
    identity: str
    """Who is in the photos; the validation split never puts one identity on both sides."""
    angle: str
    """KDEF camera angle code (S, HL, HR, FL, FR); empty when the layout does not say."""


@dataclass(frozen=True)
class PairSearch:
    """What a data folder holds: the pairs found and what was skipped, so nothing is dropped silently."""
    folder: Path
    layout: str
    """"kdef" or "csv"."""
    pairs: list[ExpressionPair]
    unpaired: list[str] = field(default_factory=list)
    """Photos (or CSV rows) whose partner is missing, relative to the folder."""
    unrecognised: list[str] = field(default_factory=list)
    """Files that are not KDEF-named photos, or CSV rows that cannot be used, with the reason."""
    duplicates: list[str] = field(default_factory=list)
    """KDEF photos with the same name as an earlier one (e.g. .JPG and .jpeg); the first in sorted order is used."""
    other_angles: int = 0
    """KDEF photos skipped because their camera angle was not asked for."""

    def notes(self) -> list[str]:
        """One line per kind of skipped input, for the training log and summary."""
        lines = []
        if self.unpaired:
            lines.append(f"{len(self.unpaired)} photo(s) without a partner skipped: {listed(self.unpaired)}")
        if self.unrecognised:
            lines.append(f"{len(self.unrecognised)} file(s) not used: {listed(self.unrecognised)}")
        if self.duplicates:
            lines.append(f"{len(self.duplicates)} duplicate photo name(s) skipped: {listed(self.duplicates)}")
        if self.other_angles:
            lines.append(f"{self.other_angles} photo(s) at other camera angles skipped")
        return lines


@dataclass(frozen=True)
class DataSplit:
    train: list[ExpressionPair]
    validation: list[ExpressionPair]
    train_identities: list[str]
    validation_identities: list[str]


def listed(names: list[str], limit: int = LISTED) -> str:
    """'a, b, c' or 'a, b, c, d, e and 7 more'."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def find_pairs(folder: str | Path, angles: tuple[str, ...] = ("S",)) -> PairSearch:
    """The training pairs in folder: from its pairs.csv when there is one, else from KDEF-named photos.

    Raises PromptFaceError when the folder holds no usable pair, naming what was expected and what was seen.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise PromptFaceError(f"training data folder {folder} does not exist or is not a folder; point it at a "
                              f"KDEF-layout folder or a folder with a {PAIRS_CSV}")
    if (folder / PAIRS_CSV).is_file():
        search = pairs_from_csv(folder)
    else:
        search = pairs_from_kdef(folder, angles)
    if not search.pairs:
        raise PromptFaceError(no_pairs_message(search, angles))
    return search


def check_angles(angles: tuple[str, ...]) -> tuple[str, ...]:
    """The angle codes upper-cased; refuses unknown ones."""
    upper = tuple(angle.upper() for angle in angles)
    unknown = [angle for angle in upper if angle not in KDEF_ANGLES]
    if unknown or not upper:
        raise PromptFaceError(f"unknown KDEF angle(s) {', '.join(unknown) or '(none given)'}; "
                              f"choose from {', '.join(KDEF_ANGLES)} (S is straight ahead)")
    return upper


def pairs_from_kdef(folder: Path, angles: tuple[str, ...] = ("S",)) -> PairSearch:
    """Pairs from KDEF-named photos anywhere under folder; NE is the input for every other expression."""
    angles = check_angles(angles)
    # (session, gender, id, angle) -> {expression code: path}
    groups: dict[tuple[str, str, str, str], dict[str, Path]] = {}
    unrecognised, duplicates, other_angles = [], [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = relative_name(path, folder)
        if path.name.startswith("."):
            continue  # .DS_Store and friends
        match = KDEF_NAME.match(path.name)
        if match is None:
            unrecognised.append(name)
            continue
        session, gender, number, code, angle = (part.upper() for part in match.groups())
        if angle not in angles:
            other_angles += 1
            continue
        group = groups.setdefault((session, gender, number, angle), {})
        if code in group:
            duplicates.append(name)
        else:
            group[code] = path
    pairs, unpaired = [], []
    for (_session, gender, number, angle), photos in sorted(groups.items()):
        neutral = photos.get(NEUTRAL_CODE)
        expressions = sorted(code for code in photos if code != NEUTRAL_CODE)
        if neutral is None or not expressions:
            unpaired.extend(relative_name(photos[code], folder) for code in sorted(photos))
            continue
        for code in expressions:
            pairs.append(ExpressionPair(neutral=neutral, expression=photos[code], prompt=EMOTION_WORDS[code],
                                        identity=f"{gender}{number}", angle=angle))
    return PairSearch(folder=folder, layout="kdef", pairs=pairs, unpaired=unpaired, unrecognised=unrecognised,
                      duplicates=duplicates, other_angles=other_angles)


def pairs_from_csv(folder: Path) -> PairSearch:
    """Pairs from folder/pairs.csv (columns neutral, expression, prompt, identity; optional angle)."""
    table = folder / PAIRS_CSV
    with table.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in CSV_COLUMNS if name not in columns]
        if missing:
            raise PromptFaceError(f"{table} lacks the column(s) {', '.join(missing)}; it has "
                                  f"{', '.join(columns) or 'no header'} and needs {', '.join(CSV_COLUMNS)} "
                                  "(paths relative to the folder)")
        rows = [{key.strip(): (value or "").strip() for key, value in row.items() if key is not None}
                for row in reader]
    pairs, unpaired, unusable = [], [], []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        empty = [name for name in CSV_COLUMNS if not row.get(name)]
        if empty:
            unusable.append(f"row {number}: empty {', '.join(empty)}")
            continue
        neutral, expression = folder / row["neutral"], folder / row["expression"]
        absent = [row[name] for name, path in (("neutral", neutral), ("expression", expression))
                  if not path.is_file()]
        if absent:
            unpaired.append(f"row {number}: {', '.join(absent)} not found")
            continue
        pairs.append(ExpressionPair(neutral=neutral, expression=expression, prompt=row["prompt"],
                                    identity=row["identity"], angle=row.get("angle", "")))
    return PairSearch(folder=folder, layout="csv", pairs=pairs, unpaired=unpaired, unrecognised=unusable)


def relative_name(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def no_pairs_message(search: PairSearch, angles: tuple[str, ...]) -> str:
    """Why a folder gave no pairs: what was expected, then what was seen."""
    if search.layout == "csv":
        expected = (f"{PAIRS_CSV} rows with columns {', '.join(CSV_COLUMNS)} whose photo paths (relative to the "
                    "folder) exist")
    else:
        expected = ("KDEF-named photos, a neutral and at least one expression per person and angle, e.g. "
                    f"AF01NES.JPG + AF01HAS.JPG (angle(s) {', '.join(angles)}; names matching {KDEF_NAME.pattern}, "
                    f"case-insensitive), or a {PAIRS_CSV} with columns {', '.join(CSV_COLUMNS)}")
    seen = "; ".join(search.notes()) or "no files at all"
    return f"no training pairs in {search.folder}: expected {expected}. Saw: {seen}"


def split_by_identity(pairs: list[ExpressionPair], validation_fraction: float, seed: int) -> DataSplit:
    """Hold out about validation_fraction of the identities (not of the pairs) for validation.

    Deterministic for a given seed; with two or more identities and a fraction above 0 each side gets at least one.
    A fraction of 0, or a single identity, puts everything in training.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise PromptFaceError(f"validation fraction must be in [0, 1), not {validation_fraction}")
    identities = sorted({pair.identity for pair in pairs})
    shuffled = list(identities)
    random.Random(seed).shuffle(shuffled)
    count = 0
    if validation_fraction > 0 and len(identities) >= 2:
        count = min(max(round(validation_fraction * len(identities)), 1), len(identities) - 1)
    held_out = set(shuffled[:count])
    return DataSplit(train=[pair for pair in pairs if pair.identity not in held_out],
                     validation=[pair for pair in pairs if pair.identity in held_out],
                     train_identities=[name for name in identities if name not in held_out],
                     validation_identities=sorted(held_out))
