"""The backend on this machine: where its command is, the `serve --stdio` command line that the local transport
(stdio_client.LocalStdioChannel, the panel's "This Computer" and `promptface animate`) starts, and its sample photos.

The add-on never imports backend code (Blender's Python has no torch), so even work on one machine goes through the
backend's own command.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..core.errors import PromptFaceError

BACKEND_COMMAND_ENV = "PROMPTFACE_BACKEND_COMMAND"


def backend_command() -> list[str]:
    """The command that starts the backend: $PROMPTFACE_BACKEND_COMMAND, or `promptface-backend` next to this
    Python or on PATH."""
    configured = os.environ.get(BACKEND_COMMAND_ENV)
    if configured:
        return configured.split()
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("promptface-backend", path=search)
    if found is None:
        raise PromptFaceError("the embedded CPU engine is not installed here (no `promptface-backend` command); "
                              "install it with `pip install 'promptface[backend]'` or set "
                              f"{BACKEND_COMMAND_ENV}")
    return [found]


def serve_command(data_dir: str | Path | None = None, editor: str | None = None,
                  reconstructor: str | None = None) -> list[str]:
    """`promptface-backend serve --stdio` on data_dir (default: the backend's own). Given an editor or a
    reconstructor, the server loads only those engines (as `promptface-backend generate` would), else every engine
    configured where it runs."""
    command = [*backend_command(), "serve", "--stdio"]
    for flag, value in (("--data-dir", data_dir), ("--editor", editor), ("--reconstructor", reconstructor)):
        if value:
            command += [flag, str(value)]
    return command


def write_sample_photo(name: str, path: Path) -> Path:
    """A built-in sample photo (`promptface-backend sample NAME`) written to path; returns path."""
    result = subprocess.run([*backend_command(), "sample", name, "--out", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise PromptFaceError(said[-1].removeprefix("error: ") if said else
                              f"the backend could not write the sample photo '{name}' (exit status "
                              f"{result.returncode})")
    return path
