"""The compiled frame step (`generate_tokens(..., compiled=True)`) makes the official tokens too.

Compiled maths may round differently in the last bit (fused reductions), so this compares what matters,
the tokens, against the official golden of the sharp set (the one with peaked attention, where a wrong
position or cache read changes the tokens) and against the eager path. One model and one batch size keep
the compile cost of the suite to about a minute; the compile cache makes later runs on one machine faster.
"""

import numpy as np
import torch

from heartmula_core.lm.generation import generate_tokens

from .heartmula_support import one_thread, sharp  # noqa: F401 (fixtures)


def test_compiled_frames_equal_the_official_and_the_eager_ones(sharp):
    """Two variants (a batch: 4 rows with guidance), the first seeded as the official sampled run, and longer
    than that run, so positions well past the first compiled ones are read back from the cache."""
    ref = sharp.golden["gen_cfg15_topk50_seed0_frames"]
    seeds = (int(sharp.golden["sampled_seed"]), 4)

    def run(compiled: bool):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return generate_tokens(
            sharp.model, sharp.prompt, frames=60, cfg_scale=1.5, topk=50, generators=gens, compiled=compiled
        )

    eager, compiled = run(False), run(True)
    assert np.array_equal(compiled.tokens[0, : len(ref)].numpy(), ref)
    assert compiled.lengths == eager.lengths
    assert torch.equal(compiled.tokens, eager.tokens)
    assert not torch.equal(eager.tokens[0], eager.tokens[1])  # the variants differ: the test can tell them apart
