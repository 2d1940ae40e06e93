"""One evaluation: predictions (PREFIX.probs.npz + PREFIX.gff3) against a reference annotation,
beside the prior, k-mer logistic-regression, no-learning ORF and pyrodigal baselines; writes
metrics.json, plots and report.md into one folder.

Protein-coding genes (`protein_coding` in each system's metrics): P/R/F1 at >= 50% reciprocal
overlap on the same strand against the reference's protein-coding genes, and exact-start /
exact-stop rates of the matched calls. A system's protein-coding calls are its calls of biotype
`protein_coding`; a model without gene models (label runs, e.g. GO segments) has no biotype,
so all its segments are taken as its gene calls.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from genolong.annotate.genes import pool_reference_genes
from genolong.annotate.probs import load_probs
from genolong.atomic import atomic_write_text
from genolong.errors import GenolongError
from genolong.evaluate import metrics as M
from genolong.evaluate.reference import UNKNOWN, project_labels, token_targets

TRACK_SPAN = 20000  # bp shown in the genome-track panel


def read_predicted_gff3(path: str | os.PathLike, kind: str) -> list[M.Interval]:
    """The genes of a `genolong annotate` GFF3 as Intervals.

    Gene models (rows with `gene_biotype`, children linked by `Parent`): one Interval per gene
    with its biotype. Label runs (older checkpoints): the biotype is the function of a
    single-label prediction, and `genic` for GO predictions (which carry no biotype)."""
    path = Path(path)
    if not path.is_file():
        raise GenolongError(f"{path}: no such file (run `genolong annotate` first)")
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9:
                raise GenolongError(f"{path}: line {lineno}: expected 9 tab-separated columns, found {len(cols)}")
            attrs = dict(kv.split("=", 1) for kv in cols[8].split(";") if "=" in kv)
            if "Parent" in attrs:
                continue
            try:
                start, end = int(cols[3]) - 1, int(cols[4])
            except ValueError:
                raise GenolongError(f"{path}: line {lineno}: start/end are not integers") from None
            if "gene_biotype" in attrs:
                biotype = unquote(attrs["gene_biotype"])
            else:
                biotype = "genic" if kind == "multilabel" else unquote(attrs.get("function", "").split(",")[0])
            out.append(M.Interval(unquote(cols[0]), start, end, cols[6], biotype))
    return out


def coding_calls(calls: list[M.Interval]) -> list[M.Interval]:
    """A system's protein-coding calls: those of that biotype, or every call when none has a biotype."""
    coding = [c for c in calls if c.biotype == "protein_coding"]
    return coding if coding or any(c.biotype in ("tRNA", "rRNA", "ncRNA") for c in calls) else list(calls)


def resolve_table(requested: int | None, tp, genes: list, reference: str) -> int:
    """--translation-table, else the predictions' code, else the reference's /transl_table, else 11."""
    from genolong.data.structure import DEFAULT_TRANSL_TABLE, check_transl_table, transl_table_of

    if requested is not None:
        return check_transl_table(requested, "--translation-table")
    if tp.transl_table is not None:
        return int(tp.transl_table)
    return transl_table_of(genes, reference) or DEFAULT_TRANSL_TABLE


def _concat(arrays: list[np.ndarray], width: int | None, dtype) -> np.ndarray:
    if arrays:
        return np.concatenate(arrays)
    return np.zeros((0,) if width is None else (0, width), dtype=dtype)


def _kmer_baseline(model: dict, genome, genes: list, by_gene, vocab, tokenizer) -> dict:
    """Gene-level metrics of the k-mer logistic regression on the reference genes."""
    from genolong.evaluate.baseline import gene_tokens, kmer_features, predict_proba
    from genolong.data.tokenizer import KmerTokenizer

    base_tok = KmerTokenizer.from_dict(model["tokenizer"])
    lab = model["labels"]
    if (lab["scheme"], lab["kind"], list(lab["classes"])) != (vocab.scheme, vocab.kind, list(vocab.classes)):
        raise GenolongError(
            f"baseline model: labels (scheme {lab['scheme']!r}, {len(lab['classes'])} classes) do not match the "
            f"predictions' (scheme {vocab.scheme!r}, {len(vocab.classes)} classes)"
        )
    tokens_cache: dict[str, np.ndarray] = {}
    feats = []
    for g in genes:
        if g.seqid not in tokens_cache:
            tokens_cache[g.seqid] = base_tok.encode(genome.fetch(g.seqid))
        feats.append(gene_tokens(tokens_cache[g.seqid], g.parts, g.strand, base_tok))
    x = kmer_features(feats, base_tok, int(model["k_sub"]))
    return gene_level(genes, by_gene, predict_proba(model, x), vocab)


def gene_level(genes: list, by_gene: dict, probs: np.ndarray, vocab) -> dict:
    """Accuracy / macro-F1 (single) or Fmax / term AUPRC (GO) of per-gene probabilities (n, C)."""
    classes = list(vocab.classes)
    rows = [i for i, g in enumerate(genes) if g.gene_id in by_gene]
    if vocab.kind == "single":
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[by_gene[genes[i].gene_id][0]] for i in rows], dtype=np.int64)
        return M.single_label_metrics(y, probs[rows] if rows else np.zeros((0, len(classes))), classes)
    col = {c: i for i, c in enumerate(classes[1:])}
    y = np.zeros((len(rows), len(classes) - 1), dtype=np.int64)
    for r, i in enumerate(rows):
        for t in by_gene[genes[i].gene_id]:
            y[r, col[t]] = 1
    p = probs[rows][:, 1:] if rows else np.zeros((0, len(classes) - 1))
    return M.gene_multilabel_metrics(y, p, classes[1:])


def token_level(targets: np.ndarray, probs: np.ndarray, vocab) -> dict:
    if vocab.kind == "single":
        known = targets != UNKNOWN
        return M.single_label_metrics(targets[known], probs[known], list(vocab.classes))
    return M.multilabel_token_metrics(targets, probs, list(vocab.classes))


def evaluate(
    pred: str | os.PathLike,
    reference: str | os.PathLike,
    out_dir: str | os.PathLike,
    genome: str | os.PathLike | None = None,
    baseline: str | os.PathLike | None = None,
    train_log: str | os.PathLike | None = None,
    prodigal: str = "auto",
    prodigal_mode: str = "meta",
    translation_table: int | None = None,
    plots: bool = True,
    regions: list[tuple[str, int, int]] | None = None,
) -> dict:
    """Score PREFIX against `reference`; write metrics.json, PNG plots and report.md to `out_dir`.

    `regions` (seqid, start, end), e.g. a token store's test split, restricts every metric to
    the tokens and reference genes that lie wholly inside them; predicted segments and baseline
    calls that overlap a region are clipped to it, so a prediction running across the region
    still counts against precision.
    """
    from genolong.data.annotation import read_annotation
    from genolong.evaluate import prodigal as prodigal_mod
    from genolong.evaluate.report import write_report
    from genolong.data.labels import LabelVocab
    from genolong.data.tokenizer import KmerTokenizer

    out_dir = Path(out_dir)
    tp = load_probs(f"{pred}.probs.npz")
    vocab = LabelVocab.from_dict(tp.labels)
    tok = KmerTokenizer.from_dict(tp.tokenizer)
    classes = list(vocab.classes)
    all_genes = read_annotation(reference)
    inside = _region_filter(regions, tp.lengths, str(reference))
    genes = [g for g in all_genes if g.seqid in tp.probs and inside(g)]
    if not genes:
        raise GenolongError(
            f"{reference}: none of its {len(all_genes)} genes lie on the predicted records "
            f"({', '.join(tp.seqids[:3])}{', ...' if len(tp.seqids) > 3 else ''})"
        )
    ref = project_labels(genes, vocab, str(reference))
    probs32 = {s: np.asarray(p, dtype=np.float32) for s, p in tp.probs.items()}

    masks = {s: _token_mask(regions, s, probs32[s].shape[0], tok) for s in tp.seqids}
    targets = _concat([token_targets(ref, s, probs32[s].shape[0], tok)[masks[s]] for s in tp.seqids],
                      None if vocab.kind == "single" else len(classes), np.uint8)
    token_probs = _concat([probs32[s][masks[s]] for s in tp.seqids], len(classes), np.float32)
    pooled = pool_reference_genes(genes, probs32, classes, vocab.kind, tok.k, tok.stride)
    pooled_probs = np.stack([g.probs for g in pooled]) if pooled else np.zeros((0, len(classes)))
    by_id = {g.gene_id: g for g in genes}
    pooled_genes = [by_id[p.gene_id] for p in pooled]
    predicted = _clip(read_predicted_gff3(f"{pred}.gff3", vocab.kind), regions)
    ref_intervals = [M.Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for g in genes]
    ref_coding = [r for r in ref_intervals if r.biotype == "protein_coding"]
    table = resolve_table(translation_table, tp, genes, str(reference))

    model = {
        "token": token_level(targets, token_probs, vocab),
        "gene": gene_level(pooled_genes, ref.by_gene, pooled_probs, vocab),
        "segment": M.segment_metrics(predicted, ref_intervals),
        "protein_coding": M.coding_metrics(coding_calls(predicted), ref_coding),
    }

    baselines: dict[str, dict] = {}
    notes: list[str] = []
    base_model = None
    if baseline is not None:
        from genolong.evaluate.baseline import load_baseline

        base_model = load_baseline(baseline)
    if base_model is not None:
        token_prior = np.asarray(base_model["token_prior"])
        gene_prior = np.asarray(base_model["gene_prior"])
        prior_source = f"training genes of {base_model['store']}"
    else:
        token_prior, gene_prior = _reference_priors(targets, pooled_genes, ref.by_gene, vocab)
        prior_source = "the reference itself (no --baseline given; an optimistic prior)"
    prior_name = "majority" if vocab.kind == "single" else "term_prior"
    baselines[prior_name] = {
        "token": token_level(targets, np.tile(token_prior, (targets.shape[0], 1)), vocab),
        "gene": gene_level(pooled_genes, ref.by_gene, np.tile(gene_prior, (len(pooled_genes), 1)), vocab),
    }
    genome_obj = None
    if genome is not None:
        from genolong.data.genome import open_genome

        genome_obj = open_genome(genome)
    try:
        if base_model is not None:
            if genome_obj is None:
                notes.append("k-mer logistic regression skipped: it needs --genome")
            else:
                baselines["kmer_logreg"] = {"gene": _kmer_baseline(base_model, genome_obj, pooled_genes, ref.by_gene,
                                                                   vocab, tok)}
        else:
            notes.append("k-mer logistic regression not run: pass --baseline MODEL (from `genolong baseline`)")
        if genome_obj is None:
            notes.append("ORF baseline skipped: it needs --genome")
        else:
            from genolong.evaluate import orf_baseline

            orf = _clip(orf_baseline.call_genes(genome_obj, tp.seqids, table), regions)
            baselines["orf"] = {"segment": M.segment_metrics(orf, ref_intervals),
                                "protein_coding": M.coding_metrics(orf, ref_coding),
                                "rule": f"ORFs >= {orf_baseline.MIN_LENGTH} bp, longest first, overlap <= "
                                        f"{orf_baseline.MAX_OVERLAP} bp, genetic code {table}"}
        prodigal_calls = None
        if prodigal != "off":
            if not prodigal_mod.available():
                notes.append("pyrodigal is not installed (pip install genolong[prodigal]): no Prodigal comparison")
                if prodigal == "on":
                    raise GenolongError("--prodigal on: pyrodigal is not installed")
            elif genome_obj is None:
                notes.append("Prodigal comparison skipped: it needs --genome")
            else:
                prodigal_calls = _clip(prodigal_mod.call_genes(genome_obj, tp.seqids, prodigal_mode, table), regions)
                baselines["pyrodigal"] = {"segment": M.segment_metrics(prodigal_calls, ref_intervals),
                                          "protein_coding": M.coding_metrics(prodigal_calls, ref_coding),
                                          "mode": prodigal_mode, "version": prodigal_mod.version()}
    finally:
        if genome_obj is not None:
            genome_obj.close()

    result = {
        "meta": {"pred": str(pred), "reference": str(reference), "genome": str(genome) if genome else None,
                 "baseline": str(baseline) if baseline else None, "prior_from": prior_source,
                 "records": tp.seqids, "regions": [list(r) for r in regions] if regions else None,
                 "total_bp": sum(tp.lengths.values()), "n_scored_tokens": int(targets.shape[0]),
                 "n_reference_genes": len(genes),
                 "n_labelled_reference_genes": len(ref.by_gene), "n_predicted_genes": len(predicted),
                 "transl_table": table,
                 "tokenizer": tp.tokenizer, "notes": notes},
        "classes": classes,
        "labels": {"scheme": vocab.scheme, "kind": vocab.kind},
        "model": model,
        "baselines": baselines,
    }
    figures: dict[str, str] = {}
    if plots:
        figures = _plots(out_dir, result, targets, token_probs, vocab, tok, genes, pooled, probs32, tp,
                         prodigal_calls, train_log)
    result["plots"] = figures
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=1, default=_json_default))
    write_report(out_dir / "report.md", result)
    return result


def _region_filter(regions, lengths: dict[str, int], reference: str):
    """A predicate: does an object with seqid/start/end lie wholly inside one of `regions`?"""
    if not regions:
        return lambda item: True
    by_seq: dict[str, list[tuple[int, int]]] = {}
    for seqid, start, end in regions:
        by_seq.setdefault(seqid, []).append((int(start), int(end)))
    if not set(by_seq) & set(lengths):
        raise GenolongError(f"{reference}: none of the evaluation regions ({', '.join(sorted(by_seq)[:3])}) "
                            f"lie on the predicted records ({', '.join(list(lengths)[:3])})")
    return lambda item: any(s <= item.start and item.end <= e for s, e in by_seq.get(item.seqid, ()))


def _clip(intervals: list[M.Interval], regions) -> list[M.Interval]:
    """Intervals overlapping the regions, cut to them (all of them when no regions are given)."""
    if not regions:
        return list(intervals)
    out = []
    for it in intervals:
        for seqid, start, end in regions:
            if seqid == it.seqid and it.start < end and start < it.end:
                out.append(dataclasses.replace(it, start=max(it.start, start), end=min(it.end, end)))
    return out


def _token_mask(regions, seqid: str, n_tokens: int, tokenizer) -> np.ndarray:
    """Tokens wholly inside the regions on `seqid` (all tokens when no regions are given)."""
    if not regions:
        return np.ones(n_tokens, dtype=bool)
    mask = np.zeros(n_tokens, dtype=bool)
    for s, start, end in regions:
        if s == seqid:
            a, b = tokenizer.token_range(start, end)
            mask[a : min(b, n_tokens)] = True
    return mask


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _reference_priors(targets, genes, by_gene, vocab) -> tuple[np.ndarray, np.ndarray]:
    n = len(vocab.classes)
    if vocab.kind == "single":
        known = targets[targets != UNKNOWN]
        token = np.bincount(known, minlength=n)[:n] / max(known.size, 1)
        index = {c: i for i, c in enumerate(vocab.classes)}
        labs = [index[by_gene[g.gene_id][0]] for g in genes if g.gene_id in by_gene]
        gene = np.bincount(labs, minlength=n)[:n] / max(len(labs), 1)
        return token, gene
    ok = targets != UNKNOWN
    token = np.where(ok, targets, 0).sum(axis=0) / np.maximum(ok.sum(axis=0), 1)
    col = {c: i for i, c in enumerate(vocab.classes)}
    gene = np.zeros(n)
    gene[0] = 1.0
    annotated = [by_gene[g.gene_id] for g in genes if by_gene.get(g.gene_id)]
    for terms in annotated:
        for t in terms:
            gene[col[t]] += 1.0 / len(annotated)
    return token, gene


def _plots(out_dir, result, targets, token_probs, vocab, tok, genes, pooled, probs32, tp, prodigal_calls,
           train_log) -> dict[str, str]:
    from genolong.evaluate import plots as P

    out_dir.mkdir(parents=True, exist_ok=True)
    classes = list(vocab.classes)
    figures = {}
    if vocab.kind == "single":
        known = targets != UNKNOWN
        cm = result["model"]["token"]["confusion_matrix"]
        if cm is not None:
            P.confusion_matrix_plot(np.array(cm), classes, out_dir / "confusion_matrix.png",
                                    "token-level confusion (rows normalised)")
            figures["confusion_matrix"] = "confusion_matrix.png"
        if known.any():
            P.pr_curves_plot(targets[known], token_probs[known], classes, out_dir / "pr_curves.png",
                             "token-level precision-recall")
            figures["pr_curves"] = "pr_curves.png"
    else:
        genic_cm = result["model"]["token"]
        known = ~np.any(targets[:, 1:] == UNKNOWN, axis=1)
        from sklearn.metrics import confusion_matrix

        cm = confusion_matrix(targets[:, 0], (token_probs[:, 0] >= 0.5).astype(int), labels=[0, 1])
        genic_cm["genic_confusion_matrix"] = cm.tolist()
        P.confusion_matrix_plot(cm, ["intergenic", "genic"], out_dir / "confusion_matrix.png",
                                "token-level genic confusion (rows normalised)")
        figures["confusion_matrix"] = "confusion_matrix.png"
        P.pr_curves_plot(np.where(known[:, None], targets, 0), token_probs, classes, out_dir / "pr_curves.png",
                         "token-level precision-recall (genic, and terms on known tokens)")
        figures["pr_curves"] = "pr_curves.png"
    seqid = genes[0].seqid
    start = max(0, genes[0].start - 500)
    end = min(tp.lengths[seqid], start + TRACK_SPAN)
    predicted = read_predicted_gff3(f"{result['meta']['pred']}.gff3", vocab.kind)
    extra = {"pyrodigal": prodigal_calls} if prodigal_calls is not None else None
    P.genome_track_plot(seqid, start, end, genes, [_Labelled(p) for p in predicted], probs32[seqid], classes,
                        tok.k, tok.stride, out_dir / "genome_track.png", extra)
    figures["genome_track"] = "genome_track.png"
    if train_log is not None:
        if not Path(train_log).is_file():
            raise GenolongError(f"{train_log}: no such training log (a Lightning metrics.csv)")
        P.training_curves_plot(train_log, out_dir / "training_curves.png")
        figures["training_curves"] = "training_curves.png"
    return figures


class _Labelled:
    """A predicted Interval shown with its function label as colour."""

    def __init__(self, interval: M.Interval):
        self.seqid, self.start, self.end, self.strand = interval.seqid, interval.start, interval.end, interval.strand
        self.label = interval.biotype

