"""Offline text: docstrings of the Python standard library, split into summaries and bodies."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import numpy as np

MODULES = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "codecs", "collections",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "email.message", "enum", "fractions", "ftplib", "functools", "gettext", "gzip", "hashlib",
    "heapq", "hmac", "html.parser", "http.client", "http.server", "imaplib", "inspect",
    "ipaddress", "json", "locale", "logging", "mailbox", "mimetypes", "multiprocessing.pool",
    "operator", "optparse", "os", "pathlib", "pickle", "pdb", "platform", "poplib", "pprint",
    "pydoc", "queue", "random", "re", "sched", "selectors", "shlex", "shutil", "smtplib",
    "socket", "socketserver", "sqlite3", "ssl", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "timeit", "tokenize", "traceback", "typing",
    "unittest.case", "urllib.parse", "urllib.request", "uuid", "warnings", "weakref",
    "xml.dom.minidom", "xml.etree.ElementTree", "zipfile",
)


@dataclass(frozen=True)
class Docstring:
    """One documented object: ``summary`` is its first paragraph, ``body`` the rest (may be '')."""

    name: str
    summary: str
    body: str


def _members(module) -> list[tuple[str, object]]:
    out = []
    for name, obj in sorted(vars(module).items()):
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) != module.__name__ or name.startswith("_"):
            continue
        out.append((f"{module.__name__}.{name}", obj))
        if inspect.isclass(obj):
            out += [(f"{module.__name__}.{name}.{k}", v) for k, v in sorted(vars(obj).items())
                    if inspect.isfunction(v) and not k.startswith("_")]
    return out


def stdlib_docstrings(seed: int = 0, min_words: int = 5, max_words: int = 80) -> list[Docstring]:
    """Deduplicated docstrings of :data:`MODULES`, shuffled by ``seed`` (same list per Python).

    Summaries have ``min_words``..``max_words`` words; summaries that repeat are dropped.
    """
    seen, docs = set(), []
    for mod_name in MODULES:
        try:
            module = importlib.import_module(mod_name)
        except ImportError:
            continue
        for name, obj in _members(module):
            doc = inspect.getdoc(obj)
            if not doc:
                continue
            paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
            summary = paragraphs[0]
            if not min_words <= len(summary.split()) <= max_words or summary in seen:
                continue
            seen.add(summary)
            docs.append(Docstring(name, summary, " ".join(paragraphs[1:])))
    order = np.random.default_rng(seed).permutation(len(docs))
    return [docs[i] for i in order]


def split_calibration_eval(docs: list[Docstring], n_calib: int, n_eval: int
                           ) -> tuple[list[Docstring], list[Docstring]]:
    """Disjoint calibration and evaluation sets (first ``n_calib``, next ``n_eval``)."""
    if n_calib + n_eval > len(docs):
        raise ValueError(f"need {n_calib} + {n_eval} docstrings, only {len(docs)} available")
    return docs[:n_calib], docs[n_calib : n_calib + n_eval]
