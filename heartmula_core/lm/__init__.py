"""The HeartMuLa token LM: lyrics, tags and a style vector in, 8 codebook codes per 80 ms frame out.

`config.py` (config dataclasses and flavors), `llama.py` (the transformer), `heartmula.py` (the model and
`load_heartmula`), `prompting.py` (the token grid the LM reads), `sampling.py` (top-k and guidance),
`generation.py` (the frame loop), `continuation.py` (continuing from kept frames), `quantize.py` (weight-only
int8).

Nothing is imported here on purpose: `request.py` reads the frame rate from `lm.config` without torch,
so the CLI can answer `--help` and bad arguments instantly.
"""
