"""Command line of gauss4d: ``gauss4d demo``."""

from __future__ import annotations

import argparse

from accelerator_utils import hardware_summary
from gauss4d import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gauss4d", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the package's main job on built-in data")
    parser.parse_args(argv)
    print(f"gauss4d {__version__} on {hardware_summary()}")
    print("headline: skeleton only; the package's content arrives with its own issue")
    return 0
