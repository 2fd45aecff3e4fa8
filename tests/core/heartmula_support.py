"""Fixtures shared by the HeartMuLa LM tests (import the ones a test module uses)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from heartmula_core.lm.heartmula import HeartMuLa, load_heartmula
from heartmula_core.lm.prompting import Prompt, PromptBuilder
from tests.core.golden import GoldenArrays


@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy CI box OpenMP's spin-waits make
    every small matmul many times slower; run these modules single-threaded, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class Case:
    name: str
    golden: GoldenArrays
    model: HeartMuLa
    prompt: Prompt
    builder: PromptBuilder


def load_case(ref, name: str) -> Case:
    golden = GoldenArrays(ref / "golden" / f"heartmula_{name}.npz")
    # F.linear everywhere, the official kernels' path; tests/core/test_packed.py runs the goldens packed
    model = load_heartmula(ref / "tiny" / f"HeartMuLa-{name}", packed=False)
    builder = PromptBuilder.from_folder(ref / "tiny" / "HeartMuLaGen-tiny")
    prompt = builder.build(str(golden["tags_text"]), str(golden["lyrics_text"]))
    return Case(name, golden, model, prompt, builder)


@pytest.fixture(scope="module")
def tiny(heartmula_ref, one_thread) -> Case:
    return load_case(heartmula_ref, "tiny")


@pytest.fixture(scope="module")
def sharp(heartmula_ref, one_thread) -> Case:
    return load_case(heartmula_ref, "sharp")
