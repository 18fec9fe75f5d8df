"""scripts/system-packages, the one list of apt packages that `make setup`/`make test` and .ci/run install: run for
real against a PATH that lacks mcs (every other program on PATH is still there). Nothing here calls apt-get: check
mode never installs, and install mode runs as a user who may not."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-packages"
TEST_ONLY = {"openssh-server", "mono-mcs", "glslang-tools"}


@pytest.fixture(scope="module")
def path_without_mcs():
    """A PATH of one folder linking every program on this PATH but mcs (readable by every user)."""
    folder = Path(tempfile.mkdtemp(prefix="promptface-path-"))
    folder.chmod(0o755)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name != "mcs" and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    assert shutil.which("mcs", path=str(folder)) is None
    yield str(folder)
    shutil.rmtree(folder)


def run(*args, path: str, user: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {"PATH": path, "PYTHON": sys.executable}
    return subprocess.run([*user, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def reported_missing(result: subprocess.CompletedProcess, group: str) -> list[str]:
    """The packages a check run names as missing (it exits 0 when none is, 1 otherwise)."""
    if result.returncode == 0:
        assert result.stdout == f"system packages for {group}: nothing missing\n"
        return []
    assert result.returncode == 1, result.stderr
    return result.stdout.splitlines()[0].removeprefix(f"missing system packages for {group}: ").split()


def install_command(packages: list[str], root: bool) -> str:
    sudo = "" if root else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y --no-install-recommends {' '.join(packages)}"


def test_check_names_the_missing_package_and_the_exact_install_command(path_without_mcs):
    result = run("check", "test", path=path_without_mcs)
    missing = reported_missing(result, "test")
    assert "mono-mcs" in missing
    assert result.stdout.splitlines()[1] == "install them with: " + install_command(missing, root=os.geteuid() == 0)


def test_the_demo_group_does_not_ask_for_the_test_only_packages(path_without_mcs):
    assert not TEST_ONLY & set(reported_missing(run("check", "demo", path=path_without_mcs), "demo"))


def test_check_agrees_with_what_is_installed_here():
    missing = reported_missing(run("check", "test", path=os.environ["PATH"]), "test")
    assert ("mono-mcs" in missing) == (shutil.which("mcs") is None)
    assert ("glslang-tools" in missing) == (shutil.which("glslangValidator") is None)
    assert ("openssh-server" in missing) == (not os.path.exists("/usr/sbin/sshd"))


def may_sudo_without_a_password() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def test_a_user_who_may_not_install_is_told_the_command_and_nothing_runs(path_without_mcs):
    if os.geteuid() == 0:  # run it as nobody, who is not root and has no sudo
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to run the script as an unprivileged user")
        user = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--")
    elif may_sudo_without_a_password():
        pytest.skip("this user has passwordless sudo: install mode would really install")
    else:
        user = ()
    result = run("install", "test", path=path_without_mcs, user=user)
    assert result.returncode == 1 and result.stdout == ""
    reason, _, command = result.stderr.strip().splitlines()
    assert "(not root, no passwordless sudo)" in reason
    missing = reason.split("): ", 1)[1].split()
    assert "mono-mcs" in missing
    assert command.strip() == install_command(missing, root=False)
