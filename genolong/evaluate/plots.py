"""Evaluation plots (matplotlib, Agg backend, PNG): confusion matrix, PR curves, genome track,
training curves."""

from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

from genolong.atomic import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)


def confusion_matrix_plot(cm: np.ndarray, classes: Sequence[str], path, title: str) -> None:
    plt = _plt()
    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)  # rows: true class
    size = 2.5 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title)
    if len(classes) <= 15:
        for i in range(len(classes)):
            for j in range(len(classes)):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of reference row")
    _save(fig, path)


def pr_curves_plot(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], path, title: str) -> None:
    """One precision-recall curve per class with positives; y is (n,) class ids or (n, C) 0/1."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    y = np.asarray(y)
    for i, name in enumerate(classes):
        yi = (y == i).astype(int) if y.ndim == 1 else y[:, i].astype(int)
        if yi.sum() == 0 or yi.sum() == yi.size:
            continue
        precision, recall, _ = precision_recall_curve(yi, probs[:, i])
        ap = average_precision_score(yi, probs[:, i])
        ax.plot(recall, precision, lw=1.2, label=f"{name} (AP {ap:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    if ax.get_lines():
        ax.legend(fontsize=6, loc="lower left", ncol=2 if len(classes) > 10 else 1)
    else:
        ax.text(0.5, 0.5, "no class has both positives and negatives here", ha="center", va="center")
    _save(fig, path)


def genome_track_plot(seqid: str, start: int, end: int, reference, predicted, probs: np.ndarray,
                      classes: Sequence[str], k: int, stride: int, path, extra=None) -> None:
    """Reference genes, predicted segments (and other callers), and per-class probability tracks.

    `reference`/`predicted` hold objects with seqid, start, end, strand and a label (`biotype`
    or `label`); `extra` maps a caller's name to more such objects (e.g. pyrodigal).
    """
    from genolong.annotate.writers import PALETTE, class_colours

    plt = _plt()
    colours = {c: tuple(v / 255 for v in rgb) for c, rgb in class_colours(classes).items()}
    lanes = [("reference", reference), ("genolong", predicted)] + list((extra or {}).items())
    fig, axes = plt.subplots(2, 1, figsize=(12, 2.0 + 0.5 * len(lanes) + 2.5), sharex=True,
                             gridspec_kw={"height_ratios": [0.5 * len(lanes) + 0.5, 2.5]})
    top, bottom = axes
    for lane, (name, items) in enumerate(lanes):
        y0 = len(lanes) - 1 - lane
        for it in items:
            if it.seqid != seqid or it.end <= start or it.start >= end:
                continue
            label = getattr(it, "label", None) or getattr(it, "biotype", "")
            colour = colours.get(label.split(";")[0], tuple(v / 255 for v in PALETTE[7]))
            top.add_patch(plt.Rectangle((it.start, y0 + 0.15), it.end - it.start, 0.7, color=colour, lw=0))
            arrow = {"+": ">", "-": "<"}.get(it.strand)
            if arrow:
                top.text((max(it.start, start) + min(it.end, end)) / 2, y0 + 0.5, arrow, ha="center",
                         va="center", fontsize=6, color="white")
    top.set_yticks([len(lanes) - 1 - i + 0.5 for i in range(len(lanes))], [n for n, _ in lanes])
    top.set_ylim(0, len(lanes))
    top.set_title(f"{seqid}:{start + 1:,}-{end:,}")
    t0, t1 = start // stride, min(probs.shape[0], -(-end // stride))
    x = np.arange(t0, t1) * stride + k / 2.0
    for i, name in enumerate(classes):
        bottom.plot(x, probs[t0:t1, i], lw=0.8, label=name, color=colours.get(name))
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("probability")
    bottom.set_xlabel("position (bp)")
    bottom.set_xlim(start, end)
    bottom.legend(fontsize=6, ncol=min(6, len(classes)), loc="upper right")
    _save(fig, path)


def training_curves_plot(csv_path: str | os.PathLike, path) -> list[str]:
    """Losses and validation/test metrics of a Lightning CSV log against `step`; returns the names."""
    plt = _plt()
    with open(csv_path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        step = row.get("step")
        if step in (None, ""):
            continue
        for key, value in row.items():
            if key in ("step", "epoch") or value in (None, ""):
                continue
            try:
                series.setdefault(key, []).append((float(step), float(value)))
            except ValueError:
                continue
    losses = sorted(k for k in series if "loss" in k)
    others = sorted(k for k in series if "loss" not in k and k.split("/")[0] in ("val", "test"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, names, ylabel in ((axes[0], losses, "loss"), (axes[1], others, "metric")):
        for name in names:
            pts = np.array(series[name])
            ax.plot(pts[:, 0], pts[:, 1], marker="." if len(pts) < 30 else None, lw=1, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if names:
            ax.legend(fontsize=7)
    _save(fig, path)
    return losses + others
