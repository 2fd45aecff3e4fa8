"""`python -m heartmula_core download NAME...`: fetch catalogue entries into the Hugging Face cache."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..hub.catalogue import CATALOGUE, DEFAULT_CODEC, DEFAULT_GEN, DEFAULT_LM

    defaults = (DEFAULT_LM, DEFAULT_GEN, DEFAULT_CODEC)
    parser = sub.add_parser(
        "download",
        help="download models (default: what a song needs)",
        description="Download catalogue entries (and what they need) into the Hugging Face cache, or resume a "
        f"partial download. Models already complete are left alone. Names: {', '.join(CATALOGUE)}.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", default=list(defaults),
        help=f"catalogue names (default: {' '.join(defaults)})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..hub.catalogue import get_entry, with_companions
    from ..hub import Catalogue

    names = with_companions(args.names)
    for name in names:
        get_entry(name)  # every name is checked before the first byte is fetched
    # A download goes to the cache only: an official ckpt/ folder is the user's to fill.
    catalogue = Catalogue()
    for name in names:
        resolved = catalogue.resolve(name)
        print(f"{name}: {resolved.path} ({resolved.source.value})")
    return 0
