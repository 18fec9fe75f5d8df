"""Compile the Unity package's C# with Debian's mcs (apt package mono-mcs, installed by .ci/run) against the stubs of
the Unity API in unity_api_stubs/, split the way the package's assembly definitions split it: the runtime assembly
sees only UnityEngine, the editor assembly also UnityEditor. The harness in harness/ runs the package's code with
mono."""
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "unity_export"
STUBS = Path(__file__).with_name("unity_api_stubs")
HARNESS = Path(__file__).with_name("harness") / "PromptFaceHarness.cs"


class CompileError(AssertionError):
    """mcs refused the sources; the message holds its output."""


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: `apt-get install {package}` (.ci/run installs it)")
    return path


def compile_csharp(sources: list[Path], out: Path, references: list[Path] = (), library: bool = True,
                   strict: bool = True) -> Path:
    """Compile `sources` into `out` with mcs; raise CompileError with mcs's output on any error (or, when strict,
    any warning)."""
    command = [tool("mcs", "mono-mcs"), f"-target:{'library' if library else 'exe'}", f"-out:{out}",
               *(f"-r:{reference}" for reference in references), *(["-warnaserror"] if strict else []),
               *map(str, sources)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise CompileError(f"mcs failed to compile {[source.name for source in sources]}:\n{run.stdout}{run.stderr}")
    return out


@dataclass
class Assemblies:
    unity_engine: Path
    unity_editor: Path
    runtime: Path
    editor: Path
    harness: Path

    def run(self, command: str, stdin: str = "") -> list[str]:
        """Run the harness command; its stdout lines."""
        run = subprocess.run([tool("mono", "mono-runtime"), str(self.harness), command], input=stdin,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"harness {command} failed ({run.returncode}): {run.stderr[-2000:]}"
        return run.stdout.splitlines()


def compile_package(folder: Path) -> Assemblies:
    """Stubs, then the package's runtime and editor assemblies, then the harness, all into `folder`."""
    engine = compile_csharp([STUBS / "UnityEngineStubs.cs"], folder / "UnityEngine.dll", strict=False)
    editor_api = compile_csharp([STUBS / "UnityEditorStubs.cs"], folder / "UnityEditor.dll", [engine], strict=False)
    runtime = compile_csharp(sorted((PACKAGE / "Runtime").glob("*.cs")), folder / "PromptFace.Runtime.dll", [engine])
    editor = compile_csharp(sorted((PACKAGE / "Editor").glob("*.cs")), folder / "PromptFace.Editor.dll",
                            [engine, editor_api, runtime])
    harness = compile_csharp([HARNESS], folder / "PromptFaceHarness.exe", [engine, editor_api, runtime, editor],
                             library=False)
    return Assemblies(engine, editor_api, runtime, editor, harness)
