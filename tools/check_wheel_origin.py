"""Check that the named workspace distributions were installed from our own wheel files.

Usage: check_wheel_origin.py DIST_DIR NAME [NAME ...]. Some names (accelerator-utils,
interp-tools) belong to unrelated projects on PyPI; an install that resolved them from an index
would run someone else's code. Each distribution's direct_url.json must point into DIST_DIR.
"""

import json
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse


def origin(name: str) -> Path | None:
    text = distribution(name).read_text("direct_url.json")
    if text is None:
        return None
    url = urlparse(json.loads(text)["url"])
    return Path(unquote(url.path)) if url.scheme == "file" else None


def main(dist_dir: str, names: list[str]) -> int:
    dist = Path(dist_dir).resolve()
    failures = []
    for name in names:
        try:
            path = origin(name)
        except PackageNotFoundError:
            failures.append(f"{name}: not installed")
            continue
        if path is None or dist not in path.resolve().parents:
            failures.append(f"{name}: installed from {path or 'an index'}, not from {dist}")
        else:
            print(f"{name}: from {path.name}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2:]))
