"""`python -m heartmula_core models`: every catalogue entry, whether it is here, where, and its size."""

from __future__ import annotations

import argparse
import sys

from ._models_args import add_catalogue_args, make_catalogue


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help="list the model catalogue: present or not, where, size",
        description="List every model Heartsong knows, whether a complete copy is on this machine, where "
        "(explicit folder, ckpt/ or the Hugging Face cache) and its size on disk. Never downloads.",
    )
    add_catalogue_args(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..hub.catalogue import CATALOGUE, human_size

    catalogue = make_catalogue(args)
    rows = [("name", "state", "size", "licence", "repository", "where")]
    problems = []
    for name, entry in CATALOGUE.items():
        status = catalogue.status(name)
        label = f"{name}*" if entry.default else name
        size = human_size(status.size_bytes) if status.size_bytes is not None else "-"
        where = f"{status.path} ({status.source.value})" if status.source else str(status.path or "-")
        rows.append((label, status.state, size, entry.licence, entry.repo_id, where))
        if status.problem:
            problems.append(status.problem)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    print("\n* default. Download with `python -m heartmula_core download NAME...`.")
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0
