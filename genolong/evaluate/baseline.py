"""`genolong baseline`: k-mer-frequency logistic regression and class priors, from a token store.

Each gene becomes the frequency vector of the k-mers (`--k`, default 3) inside its tokens,
read on the gene's own strand (minus-strand genes through the tokenizer's reverse-complement
map), standardised with the training genes' mean and spread, and a scikit-learn LogisticRegression predicts its function label: multinomial for
single-label schemes, one-vs-rest per GO term for multilabel ones (a term with no positive or no
negative training gene keeps its prior). It trains on the genes that lie wholly in the store's
`train` regions. The same file carries the priors (gene-level and token-level class or term
frequencies) that the majority / prior baseline predicts.

The model is saved as JSON (coefficients as lists): loading it never unpickles anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from genolong.data.split import SPLITS, within_regions
from genolong.errors import GenolongError
from genolong.data.labels import UNKNOWN, class_prior

FORMAT = 1


# ---- features ---------------------------------------------------------------------------------
def gene_tokens(tokens: np.ndarray, parts, strand: str, tokenizer) -> np.ndarray:
    """Tokens wholly inside the gene's parts, on the gene's strand."""
    chunks = []
    for start, end, _ in parts:
        a, b = tokenizer.token_range(start, end)
        chunks.append(np.asarray(tokens[a : min(b, len(tokens))]))
    ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    if strand == "-":
        ids = tokenizer.rc_map[ids[::-1]]
    return ids


def kmer_features(token_lists: list[np.ndarray], tokenizer, k_sub: int) -> np.ndarray:
    """(n_genes, 4**k_sub) frequencies of the k_sub-mers inside each gene's k-mer tokens."""
    k = tokenizer.k
    if not 1 <= k_sub <= k:
        raise GenolongError(f"--k {k_sub}: must be between 1 and the tokenizer's k={k}")
    n_feat = 4**k_sub
    out = np.zeros((len(token_lists), n_feat), dtype=np.float64)
    for row, ids in enumerate(token_lists):
        ids = np.asarray(ids, dtype=np.int64)
        codes = ids[ids >= tokenizer.n_special] - tokenizer.n_special  # k-mer codes, specials dropped
        if codes.size == 0:
            continue
        # every k_sub-mer at offsets 0..k-k_sub inside each k-mer (base-4 digits, first base high)
        subs = [(codes >> (2 * (k - k_sub - o))) & (n_feat - 1) for o in range(k - k_sub + 1)]
        counts = np.bincount(np.concatenate(subs), minlength=n_feat)
        out[row] = counts / counts.sum()
    return out


# ---- training ---------------------------------------------------------------------------------
def _train_genes(store, split: str):
    regions = store.regions(split)
    if not regions:
        raise GenolongError(f"{store.path}: the token store has no {split!r} regions")
    inside = within_regions((r.seqid, r.start, r.end) for r in regions)
    return [g for g in store.genes() if inside(g)], regions


def _gene_targets(store, gene, tokenizer) -> np.ndarray:
    targets = store.targets(gene.seqid)
    rows = [np.asarray(targets[slice(*tokenizer.token_range(s, e))]) for s, e, _ in gene.parts]
    return np.concatenate(rows) if rows else np.zeros((0,) + targets.shape[1:], dtype=np.uint8)


def train_baseline(store_dir: str | os.PathLike, k_sub: int = 3, split: str = "train", c: float = 1.0) -> dict:
    """Fit the k-mer logistic regression and the priors on a store's `split` genes."""
    from genolong.data.store import TokenStore

    store = TokenStore(store_dir)
    tok, vocab = store.tokenizer, store.labels
    genes, regions = _train_genes(store, split)
    index = {c: i for i, c in enumerate(vocab.classes)}
    feats, ys = [], []
    for g in genes:
        if vocab.kind == "single":
            labels = g.attributes.get("labels") or []
            if not labels or labels[0] not in index:
                continue  # unknown function under this scheme
            y = index[labels[0]]
        else:
            targets = _gene_targets(store, g, tok)
            terms = targets[:, 1:]
            if targets.shape[0] == 0:
                continue
            if np.any(terms == UNKNOWN):
                continue
            y = terms.max(axis=0) if terms.size else np.zeros(0, dtype=np.uint8)
        feats.append(gene_tokens(store.tokens(g.seqid), g.parts, g.strand, tok))
        ys.append(y)
    if len(ys) < 2:
        raise GenolongError(f"{store_dir}: only {len(ys)} labelled genes in the {split!r} regions; need at least 2")
    raw = kmer_features(feats, tok, k_sub)
    # frequencies are ~1/4**k small: standardise so the L2 penalty treats every k-mer alike
    mean, scale = raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-6)
    x = (raw - mean) / scale
    if vocab.kind == "single":
        y = np.array(ys, dtype=np.int64)
        gene_prior = np.bincount(y, minlength=vocab.n_outputs) / len(y)
        coef, intercept = fit_single(x, y, vocab.n_outputs, c)
    else:
        y = np.array(ys, dtype=np.int64)  # (genes, terms)
        gene_prior = np.concatenate([[1.0], y.mean(axis=0)])
        coef, intercept = fit_multilabel(x, y, c)
    return {
        "format": FORMAT, "model": "kmer_logreg", "k_sub": k_sub, "C": c, "split": split,
        "store": str(store_dir), "n_train_genes": len(ys),
        "tokenizer": tok.to_dict(), "labels": vocab.to_dict(),
        "feature_mean": mean.tolist(), "feature_scale": scale.tolist(),
        "coef": coef.tolist(), "intercept": intercept.tolist(),
        "gene_prior": np.asarray(gene_prior, dtype=float).tolist(),
        "token_prior": class_prior((store.targets(r.seqid)[r.tok_start:r.tok_end] for r in regions),
                                   vocab.kind, vocab.n_outputs).tolist(),
    }


def fit_single(x: np.ndarray, y: np.ndarray, n_out: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression as (coef (n_out, F), intercept (n_out,)) over all classes;
    a class never seen in training gets probability ~0."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((n_out, x.shape[1]))
    intercept = np.full(n_out, -30.0)
    present = np.unique(y)
    if present.size == 1:
        intercept[present[0]] = 0.0
    elif present.size == 2:  # scikit-learn keeps one logit, for the second class
        lr = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        coef[present[1]], intercept[present[1]] = lr.coef_[0], lr.intercept_[0]
        intercept[present[0]] = 0.0
    else:
        lr = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    return coef, intercept


def fit_multilabel(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest per term, in columns 1.. after the genic column; a term with no positive or
    no negative gene keeps its training frequency."""
    from sklearn.linear_model import LogisticRegression

    n_terms = y.shape[1]
    coef = np.zeros((n_terms + 1, x.shape[1]))
    intercept = np.zeros(n_terms + 1)
    for j in range(n_terms):
        if 0 < y[:, j].sum() < len(y):
            lr = LogisticRegression(C=c, max_iter=2000).fit(x, y[:, j])
            coef[j + 1], intercept[j + 1] = lr.coef_[0], lr.intercept_[0]
        else:
            p = float(y[:, j].mean())
            intercept[j + 1] = np.log(max(p, 1e-6) / max(1 - p, 1e-6))
    return coef, intercept


# ---- prediction -------------------------------------------------------------------------------
def predict_proba(model: dict, x: np.ndarray) -> np.ndarray:
    """(n_genes, n_outputs) probabilities; softmax (single) or per-term sigmoid (multilabel)."""
    if "feature_mean" in model:
        x = (x - np.asarray(model["feature_mean"])) / np.asarray(model["feature_scale"])
    z = x @ np.asarray(model["coef"]).T + np.asarray(model["intercept"])  # (n, C)
    if model["labels"]["kind"] == "single":
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    p = 1.0 / (1.0 + np.exp(-z))
    p[:, 0] = 1.0  # every gene is genic
    return p


def save_baseline(path: str | os.PathLike, model: dict) -> None:
    from genolong.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(model))


def load_baseline(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            model = json.load(fh)
    except FileNotFoundError:
        raise GenolongError(f"{path}: no such baseline model (train one with `genolong baseline`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenolongError(f"{path}: not a genolong baseline model: {exc}") from None
    if not isinstance(model, dict) or model.get("format") != FORMAT or model.get("model") != "kmer_logreg":
        raise GenolongError(f"{path}: not a genolong baseline model (format {FORMAT}, kmer_logreg)")
    return model


# ---- CLI --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="token store written by `genolong prepare`")
    parser.add_argument("--out", required=True, help="baseline model file (JSON)")
    parser.add_argument("--k", type=int, default=3, help="k-mer length of the frequency features (default 3)")
    parser.add_argument("--split", default="train", choices=SPLITS, help="genes to train on")
    parser.add_argument("--C", type=float, default=1.0, dest="c", help="inverse L2 regularisation strength")


def run(args: argparse.Namespace) -> int:
    if args.c <= 0:
        raise GenolongError(f"--C {args.c}: must be positive")
    model = train_baseline(args.store, k_sub=args.k, split=args.split, c=args.c)
    save_baseline(args.out, model)
    print(f"baseline: k-mer (k={args.k}) logistic regression on {model['n_train_genes']} {args.split} genes "
          f"-> {args.out}", file=sys.stderr)
    return 0
