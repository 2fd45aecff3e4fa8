"""Render again keeps a take's reusable parts in step with its new audio: continuing a re-rendered take equals
continuing a take made directly with the settings it was re-rendered with, through the Studio, the real tiny
pipeline and a real History.

A take re-rendered under other settings (here the codec in bfloat16 instead of float32, as a take made on a GPU
and rendered again on the CPU is) gets other audio; its codec latents and gain must be those of that audio, or a
continuation joins its new windows to latents the kept audio did not come from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.studio.jobs import Finished, MusicSettings, Sheet
from app.studio.history import NewTake
from app.studio.service import Studio
from heartmula_core.audio import read_audio

from .conftest import tiny_settings

pytestmark = pytest.mark.timeout(600)

SHEET = Sheet(description="a tiny tune", title="Tiny", lyrics="[verse]\nla la la\n[chorus]\nla", tags="pop",
              seconds=31.0)  # 388 frames: codec window 0 lies wholly inside, so a continuation reuses it


def _extended(studio: Studio, song_id: str):
    events = list(studio.continue_song(song_id, 1, "extend", seconds=2.0, music=MusicSettings(variants=1, seed=8)))
    assert isinstance(events[-1], Finished)
    return events[-1].song.takes[0]


def test_continuing_a_re_rendered_take_equals_continuing_one_made_with_those_settings(tmp_path: Path) -> None:
    made = Studio(tiny_settings(tmp_path / "data"))  # float32
    events = list(made.compose(SHEET, frozenset(), MusicSettings(variants=1, seed=3)))
    assert isinstance(events[-1], Finished)
    parent = events[-1].song
    first_tails = np.load(parent.takes[0].codec_tails)

    other = tiny_settings(tmp_path / "data").model_copy(update={"dtype": "bfloat16"})
    rendered = Studio(other)  # the same history, the codec now in bfloat16
    take = rendered.redecode(parent.id, 1)
    assert not np.array_equal(np.load(take.codec_tails), first_tails)  # this decode's latents, not the first's

    # The same take made directly under the new settings: its tokens, decoded in bfloat16 with its seed.
    tokens = np.load(parent.takes[0].tokens)
    direct = rendered.music.decode(rendered.settings.lm_variant, tokens, parent.takes[0].codec_seed)
    twin = rendered.history.save(title="Twin", description="", lyrics=parent.lyrics, tags=parent.tags,
                                 seconds=parent.seconds, settings=parent.settings,
                                 takes=[NewTake(direct.audio, direct.sample_rate, parent.takes[0].seed, tokens,
                                                codec_tails=direct.codec_tails)])
    np.testing.assert_array_equal(np.load(take.codec_tails), np.load(twin.takes[0].codec_tails))
    assert take.gain == twin.takes[0].gain

    from_rendered, from_twin = _extended(rendered, parent.id), _extended(rendered, twin.id)
    np.testing.assert_array_equal(np.load(from_rendered.tokens), np.load(from_twin.tokens))
    np.testing.assert_array_equal(read_audio(from_rendered.audio)[0], read_audio(from_twin.audio)[0])
    np.testing.assert_array_equal(np.load(from_rendered.codec_tails), np.load(from_twin.codec_tails))
