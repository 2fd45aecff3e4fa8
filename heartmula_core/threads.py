"""How many CPU threads torch uses for a song: `--threads` on the command line, `HEARTSONG_THREADS` in the app.

Torch's own default is one thread per core. On a CPU shared with anything else (the page, an LLM server, other
users) its threads wait for each other: on a busy 2-core machine one thread made the medium LM's frames 4 to 10
times faster than two (benchmarks/RESULTS.md, "CPU threads"). Half the cores, at least one, leaves room for the
rest of the machine and is what Heartsong uses unless told otherwise. The setting is the process's, so only the
entry points (the CLIs, the app's serve and song commands) call `use_threads`; the library never does.
"""

from __future__ import annotations

import os


def default_threads(cores: int | None = None) -> int:
    """Half of `cores` (default: this machine's), at least 1."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // 2)


def use_threads(threads: int | None = None) -> int:
    """Make torch use `threads` CPU threads (None or 0: `default_threads()`); returns the number set."""
    import torch  # here, so `--help` and `models` stay instant

    count = threads or default_threads()
    if count < 1:
        raise ValueError(f"threads must be at least 1, not {count}")
    torch.set_num_threads(count)
    return count
