"""Which music engine the studio uses, chosen in one place: this computer's pipeline, or a Ray cluster.

Both makers have the same face (`StudioMusic`): the studio's jobs, re-decode, the Models tab and Unload call
it and never ask which one it is. `HEARTSONG_RAY_ADDRESS` picks the cluster (app/cluster/); without it Ray is
never imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.cluster.errors import ClusterUnreachable
from heartmula_core.hub import Catalogue

from .continuing import Continuation
from .engines import PipelineMusicMaker
from .history import NewTake
from .jobs import MusicSettings, Progress, Sheet, TakeAudio
from .models import HubSizes
from .song_files import Decoded

if TYPE_CHECKING:
    from app.settings import Settings


class StudioMusic(Protocol):
    """What the studio needs of a music engine: the jobs' `MusicMaker`, plus re-decoding, models and memory."""

    slots: int  # songs it makes at once (an album runs this many at a time)
    own_queue: bool  # True: its songs wait in a queue of its own (a cluster's), not in the studio's DeviceQueue
    hub_sizes: HubSizes

    def catalogue(self) -> Catalogue: ...

    def make(
        self, sheet: Sheet, settings: MusicSettings, emit: Callable[[Progress | TakeAudio], None],
        cancel: threading.Event, continuation: Continuation | None = None,
    ) -> list[NewTake]: ...

    def decode(self, variant: str, tokens: np.ndarray, seed: int,
               progress: Callable[[int, int, float | None], None] | None = None,
               cancel: threading.Event | None = None, on_place: Callable[[int], None] | None = None) -> Decoded: ...

    def unload(self) -> int: ...

    @property
    def loaded(self) -> list[str]: ...


def music_maker(settings: Settings) -> StudioMusic:
    """The cluster's workers when `settings.ray_address` is set (connected now: an unreachable cluster is one
    `ClusterUnreachable` line here, not a failure at the first song), else this computer's pipeline."""
    if not settings.ray_address.strip():
        return PipelineMusicMaker(settings)
    # Ray is an optional extra: app.cluster.maker imports it, so it is imported only for a studio that asks for it.
    try:
        from app.cluster.maker import ClusterMusicMaker
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("ray"):
            raise
        raise ClusterUnreachable(
            f"HEARTSONG_RAY_ADDRESS is set ({settings.ray_address}) but Ray is not installed here: run "
            "`./install.sh --ray`, or leave the setting empty to make the music on this computer."
        ) from None
    return ClusterMusicMaker.connect(settings)
