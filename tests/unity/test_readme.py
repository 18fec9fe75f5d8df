"""What the READMEs say about the Unity package's license and about the default schedule agrees with the package and
with the code."""
import re
from pathlib import Path

from addon.animate import default_schedule
from addon.core.schedule import DEFAULT_TRANSITION_S, parse_schedule

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_the_readmes_say_the_unity_package_is_mit():
    assert re.search(r"^## License\n\nMIT \(`LICENSE`\)", (ROOT / "unity_export" / "README.md").read_text(),
                     flags=re.MULTILINE)
    assert re.search(r"^\| `unity_export/` \|[^\n]*MIT-licensed", README.read_text(), flags=re.MULTILINE)


def test_the_readme_describes_the_default_schedule_as_it_plays():
    entries = parse_schedule(default_schedule(["happy", "sad", "angry"]))
    targets = [entry.target for entry in entries]
    # Neutral opens and closes it; the expressions follow one another with no neutral between them.
    assert targets == ["neutral", "happy", "sad", "angry", "neutral"]
    assert all(entry.transition_s is None for entry in entries)
    text = " ".join(README.read_text().split())
    assert "between neutrals" not in text
    assert (f"without `--schedule` the face is neutral for {entries[0].hold_s:g} s, then shows each expression for "
            f"{entries[1].hold_s:g} s, one straight after the other ({DEFAULT_TRANSITION_S:g} s transitions), and ends "
            "on neutral.") in text
