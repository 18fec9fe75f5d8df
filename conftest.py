"""pytest's root conftest: the test helpers in tests/ (e.g. tests/waiting.py) are importable by name from every
test folder. tests/ goes at the END of sys.path: its folders addon/ and backend/ (test folders, no __init__.py) must
never shadow the real packages."""
import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent / "tests")
if TESTS not in sys.path:
    sys.path.append(TESTS)
