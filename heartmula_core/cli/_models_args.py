"""Arguments shared by the commands that find models (`models`, `download`, `generate`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..hub import Catalogue

DEFAULT_CKPT = Path("ckpt")


def add_catalogue_args(parser: argparse.ArgumentParser) -> None:
    """--ckpt: an official ckpt/ folder to look in before the Hugging Face cache."""
    parser.add_argument(
        "--ckpt",
        type=Path,
        default=None,
        metavar="DIR",
        help="an official ckpt/ folder (HeartMuLa-oss-3B/, HeartCodec-oss/, tokenizer.json, gen_config.json); "
        "default: ./ckpt when it exists",
    )


def make_catalogue(args: argparse.Namespace, folders: dict[str, Path | None] | None = None) -> Catalogue:
    """The Catalogue for these arguments (imported here so `--help` stays instant)."""
    from ..hub import Catalogue

    ckpt = args.ckpt
    if ckpt is None and DEFAULT_CKPT.is_dir():
        ckpt = DEFAULT_CKPT
    elif ckpt is not None and not ckpt.is_dir():
        raise ValueError(f"--ckpt {ckpt} is not a folder")
    return Catalogue(ckpt_dir=ckpt, folders=folders)
