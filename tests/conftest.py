"""Shared test fixtures: where the tiny checkpoints and goldens live (copied from the reference data)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
HEARTMULA_REF = FIXTURES / "heartmula"
MUQ_REF = FIXTURES / "muq_mulan"


@pytest.fixture(scope="session")
def heartmula_ref() -> Path:
    """tests/fixtures/heartmula: tiny/, golden/, manifests/, timing.json (official layout, unchanged)."""
    return HEARTMULA_REF


@pytest.fixture(scope="session")
def muq_ref() -> Path:
    """tests/fixtures/muq_mulan: tiny/ (three-repo layout), golden_tiny.npz, manifest-large.json."""
    return MUQ_REF


@pytest.fixture(scope="session")
def encoder_ref() -> Path:
    """tests/fixtures/heartcodec_encoder: the tiny encoder, the partial-RoPE query, goldens and manifest."""
    return FIXTURES / "heartcodec_encoder"
