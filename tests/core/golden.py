"""Golden .npz files whose every key some test must use: a golden value no test reads is a check nobody runs.

`GoldenArrays` remembers which keys were read; a parity module ends with a test that calls `assert_all_used`
(the style parity test records the keys it compared in its own set and passes that instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest


class GoldenArrays(Mapping[str, np.ndarray]):
    """The arrays of one golden .npz, loaded at once; `used` holds every key read so far."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as archive:
            self._arrays = {key: archive[key] for key in archive.files}
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        array = self._arrays[key]  # a KeyError before marking: a missing key is never "used"
        self.used.add(key)
        return array

    def __contains__(self, key: object) -> bool:  # a membership test reads nothing
        return key in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


def assert_all_used(keys: Iterable[str], used: set[str], request: pytest.FixtureRequest) -> None:
    """Every golden key was used, checked from a module's last test (pytest runs a module's tests in order).

    Skipped unless the whole module was selected: a `-k` run leaves keys unread on purpose.
    """
    module = request.node.parent
    module_tests = {item.name for item in module.collect()}
    selected = {item.name for item in request.session.items if item.parent is module}
    if selected != module_tests:
        pytest.skip("only part of this module was selected")
    assert sorted(set(keys) - used) == []
