"""CPU threads: half the cores by default, `--threads N` on every command that computes, applied before it runs."""

from __future__ import annotations

import argparse

import pytest
import torch

from heartmula_core.cli import add_threads_arg, run_command
from heartmula_core.threads import default_threads, use_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_default_is_half_the_cores_at_least_one() -> None:
    assert [default_threads(n) for n in (1, 2, 3, 8, 16)] == [1, 1, 1, 4, 8]


def test_use_threads_sets_torch_and_zero_means_the_default(restore_threads) -> None:
    assert use_threads(1) == 1 and torch.get_num_threads() == 1
    assert use_threads(0) == default_threads() == torch.get_num_threads()
    with pytest.raises(ValueError, match="at least 1"):
        use_threads(-2)


def test_a_command_s_threads_are_set_before_its_handler_runs(restore_threads) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    seen: list[int] = []
    p = sub.add_parser("work")
    add_threads_arg(p)
    p.set_defaults(handler=lambda args: seen.append(torch.get_num_threads()))
    run_command(parser, ["work", "--threads", "1"], (ValueError,))
    run_command(parser, ["work"], (ValueError,))
    assert seen == [1, default_threads()]


@pytest.mark.parametrize("command", ["generate", "tokens", "decode", "embed", "transcribe", "encode", "reconstruct"])
def test_every_computing_command_takes_threads(command: str) -> None:
    import heartmula_core.cli as cli

    parser = cli.build_parser("heartmula_core", "", cli.__name__, cli.__path__)
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--threads", "x"])  # known option, bad value: argparse's error, not "unrecognized"
    assert "--threads" in parser._subparsers._group_actions[0].choices[command].format_help()
