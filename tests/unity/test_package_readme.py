"""The Unity package's README says how ARKit sources drive the face, and what it shows is the package's: its C#
examples compile against the runtime assembly, its table of the ARKit component's members names real members."""
import re

from csharp_build import PACKAGE, compile_csharp

from addon.core.arkit import VISEMES

README = PACKAGE / "README.md"
ARKIT_COMPONENT = PACKAGE / "Runtime" / "PromptFaceArkit.cs"


def csharp_examples() -> list[str]:
    return re.findall(r"^```csharp\n(.*?)^```$", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_the_readme_says_how_each_kind_of_source_drives_the_weights():
    text = " ".join(README.read_text().split())
    for source in ("Live Link Face", "Audio2Face", "Lip-sync tools", "The Animator."):
        assert source in text
    assert 'ApplyPose("viseme_aa")' in text


def test_the_visemes_the_readme_names_are_the_rigs():
    named = set(re.findall(r"viseme_\w+", README.read_text()))
    assert named and named <= set(VISEMES)


def test_the_readmes_csharp_examples_compile(assemblies, tmp_path):
    examples = csharp_examples()
    assert len(examples) == 2
    sources = []
    for number, example in enumerate(examples):
        sources.append(tmp_path / f"ReadmeExample{number}.cs")
        sources[-1].write_text(example)
    compile_csharp(sources, tmp_path / "ReadmeExamples.dll", [assemblies.unity_engine, assemblies.runtime])


def documented_members() -> list[str]:
    table = README.read_text().split("| member | what |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    return [re.match(r"\| `([^`]+)` \|", row).group(1) for row in table.splitlines()]


def test_the_members_the_readme_lists_are_the_components():
    source = ARKIT_COMPONENT.read_text()
    members = documented_members()
    assert {"SetWeight(string arkitName, float weight01)", "SetWeights(IReadOnlyDictionary<string, float> weights)",
            "GetWeight(string arkitName)", "this[int arkitIndex]", "ApplyPose(string poseName)"} <= set(members)
    for member in members:
        assert re.search(rf"^\s*public [\w<>\[\], ]+ {re.escape(member)}(?=\s|$)", source, flags=re.MULTILINE), member
