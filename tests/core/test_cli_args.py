"""Command-line mistakes are one line on stderr and exit status 2, never a traceback (issue 17.13): a device this
torch cannot use, an output extension no writer knows, a negative limit, a port that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from heartmula_core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def commands(tmp_path: Path) -> dict[str, list[str]]:
    """Each command that takes --device, with arguments that are otherwise fine up to loading a model."""
    song = tmp_path / "song.wav"
    song.write_bytes(b"")  # the device is checked before the file is read
    return {
        "generate": ["generate", "--tags", "pop", "--lyrics", "la", "--seconds", "1", "--out", str(tmp_path / "a.wav")],
        "decode": ["decode", "--codec", str(tmp_path), "--tokens", str(tmp_path / "t.npy"), "--out", str(song)],
        "embed": ["embed", "--text", "warm", "--out", str(tmp_path / "s.npy")],
        "transcribe": ["transcribe", str(song)],
        "tokens": ["tokens", "--lm", str(tmp_path), "--gen", str(tmp_path), "--tags", "pop", "--lyrics", "la",
                   "--frames", "2", "--out", str(tmp_path / "t.npy")],
    }


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA to ask for one it lacks")
@pytest.mark.parametrize("command", ["generate", "decode", "embed", "transcribe", "tokens"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_device_on_a_cpu_only_torch(tmp_path: Path, capsys, command: str, device: str) -> None:
    assert main([*commands(tmp_path)[command], "--device", device]) == 2
    assert "CUDA is not available" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["generate", "decode", "embed", "transcribe", "tokens"])
def test_a_device_torch_does_not_know(tmp_path: Path, capsys, command: str) -> None:
    assert main([*commands(tmp_path)[command], "--device", "tpu9"]) == 2
    assert "unknown device 'tpu9'" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["a.xyz", "a.wav.txt", "a.mp4", "a.npy"])
def test_generate_refuses_an_extension_it_cannot_write(tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / name
    assert main(["generate", "--tags", "pop", "--lyrics", "la", "--seconds", "1", "--out", str(out)]) == 2
    assert "unknown extension" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a.xyz.wav


def test_decode_and_generate_say_the_same_about_extensions(tmp_path: Path, capsys) -> None:
    main(["generate", "--tags", "pop", "--lyrics", "la", "--seconds", "1", "--out", str(tmp_path / "a.xyz")])
    generate = one_line(capsys.readouterr().err)
    main(["decode", "--codec", str(tmp_path), "--tokens", str(tmp_path / "t.npy"), "--out", str(tmp_path / "a.xyz")])
    decode = one_line(capsys.readouterr().err)
    assert generate.split("unknown extension")[1] == decode.split("unknown extension")[1].replace(", .npy", "")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "ten"])
def test_embed_refuses_a_max_seconds_that_is_not_positive(tmp_path: Path, capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["embed", "--text", "warm", "--out", str(tmp_path / "s.npy"), "--max-seconds", value])
    assert exit_.value.code == 2
    assert "--max-seconds" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536", "http"])
def test_the_app_refuses_a_port_that_does_not_exist(port: str) -> None:
    out = subprocess.run([sys.executable, "-m", "app", "--port", port, "--env-file", "/dev/null"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "--port" in one_line(out.stderr)


def test_the_app_song_command_shares_the_extension_check(tmp_path: Path, capsys) -> None:
    from app.cli import main as app_main

    assert app_main(["song", "rain", "--out", str(tmp_path / "a.xyz"), "--env-file", "/dev/null"]) == 2
    assert "--out" in (line := one_line(capsys.readouterr().err)) and "unknown extension" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["tokens", "embed"])
def test_npy_writers_refuse_another_extension(tmp_path: Path, capsys, command: str) -> None:
    args = [a.replace("t.npy", "t.wav").replace("s.npy", "s.wav") for a in commands(tmp_path)[command]]
    before = set(tmp_path.iterdir())
    assert main(args) == 2
    assert "--out" in (line := one_line(capsys.readouterr().err)) and "use one of .npy" in line
    assert set(tmp_path.iterdir()) == before  # no song.wav holding a .npy


@pytest.mark.parametrize("command", ["encode", "reconstruct"])
@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_encoder_commands_refuse_a_max_seconds_that_is_not_positive(tmp_path: Path, capsys, command: str,
                                                                    value: str) -> None:
    out = tmp_path / ("t.npy" if command == "encode" else "t.wav")
    with pytest.raises(SystemExit) as exit_:
        main([command, str(tmp_path / "song.wav"), "--out", str(out), "--max-seconds", value])
    assert exit_.value.code == 2
    assert "--max-seconds" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("option", ["--tokens", "--continue"])
def test_a_text_file_given_as_tokens_is_said_to_be_no_npy(tmp_path: Path, capsys, option: str) -> None:
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text("[verse]\nla la\n", encoding="utf-8")
    if option == "--tokens":
        args = ["decode", "--codec", str(tmp_path), "--tokens", str(lyrics), "--out", str(tmp_path / "a.wav")]
    else:
        args = [*commands(tmp_path)["generate"], "--continue", str(lyrics)]
    assert main(args) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{option} {lyrics}: not a .npy file" in line and "pickle" not in line


def test_the_app_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:  # another program listening there
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "app", "--port", str(port), "--env-file", "/dev/null"],
                             cwd=ROOT, env={**os.environ, "HEARTSONG_DATA_DIR": str(tmp_path / "data")},
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert one_line(out.stderr) == (f"error: port {port} is in use (another Heartsong?): choose another with "
                                    "--port N or HEARTSONG_PORT")  # not "Heartsong is running", not gradio's launch()


@pytest.mark.parametrize(("extra", "expected"), [
    (["--language", "klingon"], "--language klingon: not a language Whisper knows; use a code such as en, zh"),
    (["--out", "{tmp}/no-such-folder/lyrics.txt"], "the folder {tmp}/no-such-folder does not exist"),
])
def test_transcribe_mistakes_are_one_short_line_before_the_model(tmp_path: Path, capsys, extra: list[str],
                                                                 expected: str) -> None:
    import numpy as np

    from heartmula_core.audio import write_audio

    write_audio(tmp_path / "song.wav", np.zeros((1, 16_000), np.float32), 16_000)
    # --model names a folder that is not there: these mistakes are said before the model is looked for.
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    assert main(["transcribe", str(tmp_path / "song.wav"), "--model", str(tmp_path / "no-model"), *extra]) == 2
    assert expected.format(tmp=tmp_path) in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["generate", "tokens"])
def test_a_cuda_graph_off_cuda_is_one_line_before_any_model_loads(tmp_path: Path, capsys, command: str) -> None:
    assert main([*commands(tmp_path)[command], "--device", "cpu", "--cuda-graph"]) == 2
    assert "--cuda-graph needs a CUDA device" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["tokens", "decode"])
@pytest.mark.parametrize("seed", ["-1", "1.5", str(2**63), "seven"])
def test_tokens_and_decode_refuse_a_seed_generate_would_refuse(tmp_path: Path, capsys, command: str, seed: str) -> None:
    """torch would take -1 as another seed, and one past 2**64 as a traceback: refused in one line, as `generate`
    refuses it, before any model loads."""
    with pytest.raises(SystemExit) as exit_:
        main([*commands(tmp_path)[command], "--seed", seed])
    assert exit_.value.code == 2
    assert f"--seed: must be a whole number from 0 to {2**63 - 1}, not {seed}" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("guidance", ["-1", "0.5", "nan", "inf", "21", "high"])
def test_decode_refuses_a_guidance_below_off(tmp_path: Path, capsys, guidance: str) -> None:
    """Below 1 the codec would quietly run unguided; -1 is a typo, not a wish."""
    with pytest.raises(SystemExit) as exit_:
        main([*commands(tmp_path)["decode"], "--guidance", guidance])
    assert exit_.value.code == 2
    assert "--guidance" in one_line(capsys.readouterr().err)
