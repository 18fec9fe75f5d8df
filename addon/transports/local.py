"""The local transport: runs the embedded CPU engine (`promptface-backend generate`) as a child process.

The add-on never imports backend code (Blender's Python has no torch), so even "in-process" work on one
machine goes through the backend's own command. Progress lines on its stderr are relayed; `error: …`
lines become a PromptFaceError with the backend's message.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable

from ..core.errors import PromptFaceError

BACKEND_COMMAND_ENV = "PROMPTFACE_BACKEND_COMMAND"
PROGRESS_LINE = re.compile(r"^\[\s*(\d+)%\]\s*(.*)$")


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


def generate_locally(prompts: list[str], out_dir: Path, *, photo: Path | None = None, sample: str | None = None,
                     editor: str = "warp", reconstructor: str = "landmarks", keep_photo_expression: bool = False,
                     progress: Callable[[float, str], None] | None = None) -> dict:
    """Run the backend's generate command; returns its JSON summary. Raises PromptFaceError on failure."""
    source = ["--sample", sample] if sample else [str(photo)]
    command = [*backend_command(), "generate", *source, *prompts, "--out", str(out_dir), "--json",
               "--editor", editor, "--reconstructor", reconstructor,
               *(["--keep-photo-expression"] if keep_photo_expression else [])]
    errors, tail = [], deque(maxlen=20)
    # stdout goes to a file: reading stderr line by line must not block on a full stdout pipe.
    with tempfile.TemporaryFile(mode="w+") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        for line in process.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            match = PROGRESS_LINE.match(line)
            if match and progress:
                progress(int(match.group(1)) / 100.0, match.group(2))
            elif line.startswith("error: "):
                errors.append(line[len("error: "):])
        code = process.wait()
        stdout.seek(0)
        output = stdout.read()
    if code == 2 and errors:
        raise PromptFaceError("; ".join(errors))
    if code != 0:
        raise PromptFaceError(f"the backend failed (exit code {code}); its last output:\n" + "\n".join(tail))
    return json.loads(output)
