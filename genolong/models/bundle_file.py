"""The weights-only files of the small networks beside a checkpoint (gene_function.pt,
gene_caller.pt, rna_caller.pt): each bundle is a dict of plain types and tensors, saved atomically
and loaded with `torch.load(weights_only=True)`, so a file never unpickles objects."""

from __future__ import annotations

import os

import numpy as np

from genolong.errors import GenolongError


def plain(value):
    """`json.dumps` default for numpy scalars and arrays in a bundle's recipe."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load(path: str | os.PathLike, from_dict, what: str):
    """`from_dict(contents)` of the file; one GenolongError line naming the file when it is not a
    readable `what` file (missing, truncated, another format, fields this genolong does not know)."""
    import pickle
    import zipfile

    import torch

    try:
        return from_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError, KeyError,
            TypeError, AttributeError, IndexError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GenolongError(f"{path}: not a readable {what} file: {first}") from None


def save(path: str | os.PathLike, bundle) -> None:
    """`bundle.to_dict()` written to `path` atomically."""
    import torch

    from genolong.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save(bundle.to_dict(), tmp)
