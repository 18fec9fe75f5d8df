"""pytest's root conftest: the test helpers in tests/ (e.g. tests/waiting.py) are importable by name from every
test folder. tests/ goes at the END of sys.path: its folders addon/ and backend/ (test folders, no __init__.py) must
never shadow the real packages."""
import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent / "tests")
if TESTS not in sys.path:
    sys.path.append(TESTS)


# Blender as a module can hang the interpreter's exit after a whole run: the main thread waits forever in a
# destructor of bpy's (pthread_cond_destroy in bpy's GlobalState, seen with gdb after the backend's and Blender's
# tests ran in one process; either folder alone exits). Once pytest has reported, a run that imported bpy ends with
# its exit status without running the C++ destructors; nothing is left to write by then.
_exit_status = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    if "bpy" in sys.modules and _exit_status is not None:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
