"""Command line of ssm-core: ``ssm-core demo``."""

from __future__ import annotations

import argparse

from accelerator_utils import hardware_summary
from ssm_core import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssm-core", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the package's main job on built-in data")
    parser.parse_args(argv)
    print(f"ssm-core {__version__} on {hardware_summary()}")
    print("headline: skeleton only; the package's content arrives with its own issue")
    return 0
