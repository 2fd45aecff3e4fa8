"""Finding and fetching the official models: the catalogue, where each model is on this machine, downloads.

`catalogue.py` is the table of official checkpoints, `resolver.py` finds them (a folder, `ckpt/`, the Hugging
Face cache) or downloads them, `download_errors.py` says in one line why a download failed. Importing this
package stays cheap (no torch, no huggingface_hub until a lookup needs it).
"""

from .catalogue import CATALOGUE
from .download_errors import check_disk_space, download_error
from .resolver import Catalogue, DownloadPlan, EntryStatus, MusicModels, Resolved, Source

__all__ = [
    "CATALOGUE",
    "Catalogue",
    "DownloadPlan",
    "EntryStatus",
    "MusicModels",
    "Resolved",
    "Source",
    "check_disk_space",
    "download_error",
]
