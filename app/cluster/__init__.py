"""Heartsong's music work on a Ray cluster (the optional extra: `./install.sh --ray`).

    studio ──ClusterMusicMaker (maker.py)──▶ Ray Serve app "heartsong" ──▶ MusicWorker replicas (worker.py)
           ◀── Started, Progress, TakeAudio pieces, Made (messages.py) ──    one MusicPipeline each, one GPU each

`app/studio/music.py` picks this package when `HEARTSONG_RAY_ADDRESS` is set; `heartmula_core` knows nothing of
Ray. `maker.py`, `session.py` and `worker.py` import Ray; `messages.py`, `errors.py` and `placement.py` do not.
"""
