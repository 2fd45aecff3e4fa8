"""The engine CLI answers --help and turns usage mistakes into one line with exit status 2."""

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heartmula_core", *args], capture_output=True, text=True)


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "usage:" in out.stdout


def test_unknown_command_is_one_line_exit_2():
    out = run_cli("no-such-command")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
