"""benchmarks/gpu_check.py, the script for the first minutes on a GPU, runs end to end on the CPU (tiny config,
short songs, no compiling: compiling the tiny LM on a CPU takes minutes), so a GPU minute is never lost to a typo."""

from __future__ import annotations

import json

from benchmarks import gpu_check

TINY_RUN = ["--device", "cpu", "--config", "tiny", "--seconds", "2", "--short-seconds", "1", "--check-seconds", "1",
            "--frames", "2", "--decode-steps", "1", "--no-compile", "--budget", "100000"]


def test_gpu_check_runs_on_the_cpu_and_writes_its_tables(tmp_path, capsys):
    rows = gpu_check.main([*TINY_RUN, "--out", str(tmp_path)])
    parts = [row["part"] for row in rows]
    assert parts.count("LM frame") == 8 and parts.count("song") == 2 and parts[0] == "setup" and parts[-1] == "done"
    assert "failed" not in parts
    frames = [row for row in rows if row["part"] == "LM frame"]
    assert {(r["step"], r["variants"], r["position"]) for r in frames} == {
        (kind, v, p) for kind in ("eager", "static") for v in (1, 4) for p in (100, 2030)}
    assert all(r["ms/frame"] > 0 for r in frames)
    songs = [row for row in rows if row["part"] == "song"]
    assert [s["variants"] for s in songs] == [1, 4] and all(s["first audio s"] != "" for s in songs)
    checks = [row for row in rows if row["part"] == "tokens"]
    assert [c["check"] for c in checks] == ["static vs eager", "static: variant 0 of 4 vs alone",
                                            "static: variant 3 of 4 vs alone"]
    assert all(c["equal frames"] == "100.0%" for c in checks)  # on the CPU: the same tokens every way
    (int8,) = [row for row in rows if row["part"] == "int8"]
    assert not any("error" in key for key in int8) and int8["weights GB int8"] < int8["weights GB before"]
    assert int8["static ms/frame (1 variant, position 100)"] > 0
    assert json.loads((tmp_path / "gpu_check.json").read_text()) == rows
    assert "### LM frame" in (tmp_path / "gpu_check.md").read_text()
    assert "ms/frame" in capsys.readouterr().out


def test_a_failing_step_is_a_row_and_the_run_goes_on(tmp_path):
    """--frames 0 makes every LM frame row divide by zero: those steps fail, the songs after them still run."""
    rows = gpu_check.main([*TINY_RUN, "--frames", "0", "--no-int8", "--out", str(tmp_path)])
    failed = [row for row in rows if row["part"] == "failed"]
    assert [row["step"] for row in failed] == ["LM eager", "LM static"]
    assert all("ZeroDivisionError" in row["error"] for row in failed)
    assert [row["part"] for row in rows].count("song") == 2 and rows[-1]["part"] == "done"


def test_gpu_check_skips_what_its_budget_does_not_leave_time_for(tmp_path):
    rows = gpu_check.main([*TINY_RUN, "--budget", "0", "--out", str(tmp_path)])
    assert [row["part"] for row in rows] == ["setup", "skipped", "done"]
    assert rows[1]["step"] == "LM eager"
