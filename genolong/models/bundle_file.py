"""The weights-only files of the small networks beside a checkpoint (gene_function.pt,
gene_caller.pt, start_caller.pt, rna_caller.pt): each bundle is a dict of plain types and tensors,
saved atomically and loaded with `torch.load(weights_only=True)`, so a file never unpickles
objects. `NetBundle` is the shape of the ORF and TIS nets' bundles (config, weights, recipe);
`beside` finds one next to a checkpoint."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

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


@dataclass
class NetBundle:
    """A small net's config, weights and decoder recipe (plain types: weights-only loading reads
    it). Subclasses name their net class (`net_type`) and its config class (`config_type`, with
    `to_dict` / `from_dict`)."""

    config: object
    state_dict: dict
    recipe: dict = field(default_factory=dict)
    net_type: ClassVar[type]
    config_type: ClassVar[type]

    def build(self):
        net = self.net_type(self.config)
        net.load_state_dict(self.state_dict)
        return net.eval()

    def to_dict(self) -> dict:
        recipe = json.loads(json.dumps(self.recipe))
        return {"format": 1, "config": self.config.to_dict(), "state_dict": self.state_dict, "recipe": recipe}

    @classmethod
    def from_dict(cls, d: dict) -> "NetBundle":
        if d.get("format") != 1:
            raise ValueError(f"format {d.get('format')!r}, expected 1")
        bundle = cls(cls.config_type.from_dict(d["config"]), d["state_dict"], dict(d["recipe"]))
        bundle.build()  # weights that do not fit the config fail here, inside the loader's one-line error
        return bundle


def folder_beside(checkpoint: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Where the fit-* commands write, and annotate reads, a checkpoint's small nets: `out_dir` when
    given, else the checkpoint's folder as named, never a link's target (a user's linked checkpoint
    in another folder keeps its nets beside the link)."""
    return Path(out_dir) if out_dir else Path(checkpoint).parent


def beside(checkpoint: str | os.PathLike, name: str, loader):
    """`loader(path)` of the file `name` beside `checkpoint`, its recipe's `source` set to that
    path; None when there is no such file."""
    path = folder_beside(checkpoint) / name
    if not path.is_file():
        return None
    bundle = loader(path)
    bundle.recipe["source"] = str(path)
    return bundle
