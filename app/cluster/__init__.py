"""Heartsong's music work on a Ray cluster (the optional extra: `./install.sh --ray`).

    studio ──ClusterMusicMaker (maker.py)──▶ Ray Serve app "heartsong" ──▶ MusicWorker replicas (worker.py)
           ◀── Started, Progress, TakeAudio pieces, Made (messages.py) ──    one MusicPipeline each, one GPU each

`app/studio/music.py` picks this package when `HEARTSONG_RAY_ADDRESS` is set; `heartmula_core` knows nothing of
Ray. A studio joined through Ray Client (`ray://`) may not iterate a streaming Serve response itself: its songs
stream through a bridge actor on the cluster (bridge.py). `maker.py`, `link.py`, `session.py`, `replies.py`,
`bridge.py` and `worker.py` import Ray; `messages.py`, `errors.py` and `placement.py` do not.
"""

import os
import warnings

# Ray joins a cluster on its own when a Ray call comes after `ray.shutdown()` (its "auto-connect"): the cluster
# `ray start` last started on this machine, waiting for ever when that one is gone. The studio leaves a lost
# cluster and joins it again itself (link.py), so this is switched off before Ray is first imported (it reads
# the variable then). Workers are unaffected: they are always joined.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")

# Through Ray Client (`ray://`), a vanished cluster makes Ray Client warn that its connection timed out while it
# tries to reconnect; the studio has left that cluster already and says so in its own line (link.py).
warnings.filterwarnings("ignore", message="Ray Client connection timed out", category=UserWarning)
