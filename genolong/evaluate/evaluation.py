"""One evaluation: predictions (PREFIX.probs.npz + PREFIX.gff3) against a reference annotation,
beside the prior, k-mer logistic-regression, no-learning ORF, network-free decoder (`no network`)
and pyrodigal baselines, and the pyaragorn / pybarrnap RNA anchors; writes metrics.json, plots
and report.md into one folder.

Protein-coding genes (`protein_coding` in each system's metrics): P/R/F1 at >= 50% reciprocal
overlap on the same strand against the reference's protein-coding genes, and exact-start /
exact-stop rates of the matched calls. RNA genes (`rna`): per RNA type, the calls of that biotype
against the reference's genes of it, same matching. A system's protein-coding calls are its calls of biotype
`protein_coding`; a model without gene models (label runs, e.g. GO segments) has no biotype,
so all its segments are taken as its gene calls.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from genolong.annotate.genes import pool_reference_genes
from genolong.annotate.probs import load_probs
from genolong.atomic import atomic_write_text
from genolong.errors import GenolongError
from genolong.evaluate import metrics as M
from genolong.data.labels import class_prior
from genolong.data.split import within_regions
from genolong.data.store import check_compatible
from genolong.evaluate.reference import UNKNOWN, project_labels, token_targets

TRACK_SPAN = 20000  # bp shown in the genome-track panel


PRODIGAL_WITH_PASS = "pyrodigal + pseudogene pass"

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
            if "Parent" in attrs or cols[2] == "region":  # children; a circular record's landmark row
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
    """--translation-table, else the reference's /transl_table (the genome's own), else the
    predictions' code, else 11."""
    from genolong.data.structure import DEFAULT_TRANSL_TABLE, check_transl_table, transl_table_of

    if requested is not None:
        return check_transl_table(requested, "--translation-table")
    return transl_table_of(genes, reference) or tp.transl_table or DEFAULT_TRANSL_TABLE


def _concat(arrays: list[np.ndarray], width: int | None, dtype) -> np.ndarray:
    if arrays:
        return np.concatenate(arrays)
    return np.zeros((0,) if width is None else (0, width), dtype=dtype)


def _kmer_baseline(model: dict, genome, genes: list, by_gene, vocab, tokenizer) -> dict:
    """Gene-level metrics of the k-mer logistic regression on the reference genes."""
    from genolong.evaluate.baseline import gene_tokens, kmer_features, predict_proba
    from genolong.data.tokenizer import KmerTokenizer

    base_tok = KmerTokenizer.from_dict(model["tokenizer"])
    check_compatible("baseline model", labels=model["labels"], expect_labels=vocab, have="baseline's",
                     want="predictions'")
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
    from sklearn.metrics import confusion_matrix

    metrics = M.multilabel_token_metrics(targets, probs, list(vocab.classes))
    genic = confusion_matrix(targets[:, 0], (probs[:, 0] >= 0.5).astype(int), labels=[0, 1]) if len(targets) else None
    metrics["genic_confusion_matrix"] = None if genic is None else genic.tolist()
    return metrics


@dataclass
class Scored:
    """What `evaluate` loaded and lined up: reference genes, predictions and their probabilities,
    restricted to the regions. Everything that scores or plots reads from here."""

    pred: str
    tp: Any  # TokenProbs
    vocab: Any  # LabelVocab
    tok: Any  # KmerTokenizer
    genes: list  # reference genes scored
    ref: Any  # projected reference labels
    probs32: dict  # seqid -> (n_tokens, C) float32
    targets: np.ndarray  # (N,) or (N, C) reference targets of the scored tokens
    token_probs: np.ndarray  # (N, C)
    pooled: list  # GeneCall per reference gene, pooled from the predictions
    pooled_genes: list  # the reference genes of `pooled`, in order
    predicted: list  # M.Interval of the predicted GFF3, clipped to the regions
    ref_intervals: list  # M.Interval of the reference genes

    @property
    def ref_coding(self) -> list:
        return [r for r in self.ref_intervals if r.biotype == "protein_coding"]


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
    still counts against precision. metrics.json is the same with or without plots.
    """
    scored = load_scored(pred, reference, regions, genome)
    table = resolve_table(translation_table, scored.tp, scored.genes, str(reference))
    model = {
        "token": token_level(scored.targets, scored.token_probs, scored.vocab),
        "gene": gene_level(scored.pooled_genes, scored.ref.by_gene,
                           np.stack([g.probs for g in scored.pooled]) if scored.pooled
                           else np.zeros((0, len(scored.vocab.classes))), scored.vocab),
        "segment": M.segment_metrics(scored.predicted, scored.ref_intervals),
        "protein_coding": M.coding_metrics(coding_calls(scored.predicted), scored.ref_coding),
        "rna": M.rna_metrics(scored.predicted, scored.ref_intervals),
    }
    baselines, notes, prior_source, prodigal_calls = score_baselines(
        scored, regions, genome, baseline, prodigal, prodigal_mode, table)
    from genolong.evaluate.function_eval import function_metrics

    # the per-gene function head's output (what the GFF3 says) replaces the pooled token head
    fn_model, function_systems, fn_notes = function_metrics(str(pred), scored, gene_level)
    notes += fn_notes
    if fn_model is not None:
        model["gene_token_head"] = model["gene"]
        model.update(fn_model)
    tp = scored.tp
    result = {
        "meta": {"pred": str(pred), "reference": str(reference), "genome": str(genome) if genome else None,
                 "baseline": str(baseline) if baseline else None, "prior_from": prior_source,
                 "records": tp.seqids, "regions": [list(r) for r in regions] if regions else None,
                 "total_bp": sum(tp.lengths.values()), "n_scored_tokens": int(scored.targets.shape[0]),
                 "n_reference_genes": len(scored.genes),
                 "n_labelled_reference_genes": len(scored.ref.by_gene), "n_predicted_genes": len(scored.predicted),
                 "transl_table": table, "tokenizer": tp.tokenizer, "notes": notes},
        "classes": list(scored.vocab.classes),
        "labels": {"scheme": scored.vocab.scheme, "kind": scored.vocab.kind},
        "model": model,
        "function_systems": function_systems,
        "baselines": baselines,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = _plots(out_dir, result, scored, prodigal_calls, train_log) if plots else {}
    return write_evaluation(out_dir, result, figures)


def _reference_sequences(reference) -> tuple[dict[str, int], object]:
    """The record lengths a reference states (a GenBank file's records, a GFF3's
    `##sequence-region` lines), and the GenBank genome when it is one (else None)."""
    from genolong.data.genome import GenBankGenome, _open_text, check_readable, sniff_format

    path = check_readable(reference, "annotation file")
    if sniff_format(path) == "genbank":
        genbank = GenBankGenome(path)
        return dict(genbank.lengths), genbank
    lengths = {}
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("##sequence-region"):
                parts = line.split()
                if len(parts) == 4 and parts[2] == "1" and parts[3].isdigit():  # a whole record
                    lengths[parts[1]] = int(parts[3])
            elif not line.startswith("#"):
                break  # the directives come before the features
    return lengths, None


def check_sequences(tp, pred, source, lengths: dict[str, int], genome=None) -> None:
    """The predictions must have been made on the sequences `source` (a reference or --genome)
    describes: a record of the same name but another length or content is another sequence, and
    scoring against it gives a quiet wrong number."""
    probs = f"{pred}.probs.npz"
    for seqid in tp.seqids:
        if seqid not in lengths:
            continue
        if lengths[seqid] != tp.lengths[seqid]:
            raise GenolongError(f"{source}: record {seqid} is {lengths[seqid]:,} bp, but {probs} was made on a "
                                f"{tp.lengths[seqid]:,} bp sequence of that name: not the annotated sequence")
        if genome is not None and tp.md5 and seqid in tp.md5:
            from genolong.annotate.probs import sequence_md5

            if sequence_md5(genome, seqid) != tp.md5[seqid]:
                raise GenolongError(f"{source}: record {seqid}: its sequence differs from the one {probs} was made "
                                    "on (same name and length, other bases): not the annotated sequence")


def load_scored(pred, reference, regions, genome=None) -> Scored:
    """Read the predictions and the reference, check both (and --genome) describe the annotated
    sequences, and line them up over the regions."""
    from genolong.data.annotation import check_ends, read_annotation_topology
    from genolong.data.labels import LabelVocab
    from genolong.data.tokenizer import KmerTokenizer

    tp = load_probs(f"{pred}.probs.npz")
    vocab = LabelVocab.from_dict(tp.labels)
    tok = KmerTokenizer.from_dict(tp.tokenizer)
    classes = list(vocab.classes)
    ref_lengths, genbank = _reference_sequences(reference)
    check_sequences(tp, pred, reference, ref_lengths, genbank)
    if genome is not None:
        from genolong.data.genome import open_genome

        with open_genome(genome) as genome_obj:
            missing = [s for s in tp.seqids if s not in genome_obj.lengths]
            if missing:
                raise GenolongError(f"{genome}: --genome has no record {missing[0]!r} of the predictions "
                                    f"{pred}.probs.npz: not the annotated genome")
            check_sequences(tp, pred, f"{genome} (--genome)", genome_obj.lengths, genome_obj)
    all_genes, circular = read_annotation_topology(reference, genbank)
    check_ends(all_genes, tp.lengths, reference, circular)  # genes across the origin: circular records only
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
    targets = _concat([token_targets(ref, s, probs32[s].shape[0], tok, tp.lengths[s])[masks[s]] for s in tp.seqids],
                      None if vocab.kind == "single" else len(classes), np.uint8)
    token_probs = _concat([probs32[s][masks[s]] for s in tp.seqids], len(classes), np.float32)
    pooled = pool_reference_genes(genes, probs32, classes, vocab.kind, tok.k, tok.stride, tp.lengths)
    by_id = {g.gene_id: g for g in genes}
    predicted = M.on_circles(read_predicted_gff3(f"{pred}.gff3", vocab.kind), tp.lengths)
    gff3_lengths, _ = _reference_sequences(f"{pred}.gff3")
    for seqid, length in gff3_lengths.items():
        if tp.lengths.get(seqid) != length:
            # files of two runs under one prefix (an older annotate's, copied or left beside)
            raise GenolongError(f"{pred}.gff3: record {seqid} ({length:,} bp) is not in {pred}.probs.npz as "
                                f"such: the two files are not from the same `genolong annotate` run")
    return Scored(
        pred=str(pred), tp=tp, vocab=vocab, tok=tok, genes=genes, ref=ref, probs32=probs32, targets=targets,
        token_probs=token_probs, pooled=pooled, pooled_genes=[by_id[p.gene_id] for p in pooled],
        predicted=_clip(predicted, regions),
        ref_intervals=M.on_circles([M.Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for g in genes],
                                   tp.lengths),
    )


def score_baselines(scored: Scored, regions, genome, baseline, prodigal: str, prodigal_mode: str,
                    translation_table: int) -> tuple[dict, list[str], str, list | None]:
    """The prior, the k-mer logistic regression, the ORF baseline, the network-free decoder,
    pyrodigal and the RNA anchors on the same genes and regions: (baselines, notes, where the
    prior came from, pyrodigal's calls or None)."""
    from genolong.evaluate import no_network, prodigal as prodigal_mod

    vocab, targets, pooled_genes, by_gene = scored.vocab, scored.targets, scored.pooled_genes, scored.ref.by_gene
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
        token_prior, gene_prior = _reference_priors(targets, pooled_genes, by_gene, vocab)
        prior_source = "the reference itself (no --baseline given; an optimistic prior)"
    baselines["majority" if vocab.kind == "single" else "term_prior"] = {
        "token": token_level(targets, np.tile(token_prior, (targets.shape[0], 1)), vocab),
        "gene": gene_level(pooled_genes, by_gene, np.tile(gene_prior, (len(pooled_genes), 1)), vocab),
    }
    if base_model is None:
        notes.append("k-mer logistic regression not run: pass --baseline MODEL (from `genolong baseline`)")
    elif genome is None:
        notes.append("k-mer logistic regression skipped: it needs --genome")
    prodigal_calls = None
    if prodigal != "off" and not prodigal_mod.available():
        notes.append("pyrodigal is not installed (pip install genolong[prodigal]): no Prodigal comparison")
        if prodigal == "on":
            raise GenolongError("--prodigal on: pyrodigal is not installed")
    elif prodigal != "off" and genome is None:
        notes.append("Prodigal comparison skipped: it needs --genome")
    if genome is None:
        notes.append("ORF baseline, network-free decoder and RNA anchors skipped: they need --genome")
        return baselines, notes, prior_source, prodigal_calls
    from genolong.data.genome import open_genome

    with open_genome(genome) as genome_obj:
        if base_model is not None:
            baselines["kmer_logreg"] = {"gene": _kmer_baseline(base_model, genome_obj, pooled_genes, by_gene,
                                                               vocab, scored.tok)}
        baselines["orf"] = _orf_baseline(genome_obj, scored, regions, translation_table)
        baselines[no_network.SYSTEM] = _no_network_baseline(genome_obj, scored, regions, translation_table)
        baselines.update(_rna_anchors(genome_obj, scored, regions, translation_table, notes))
        if prodigal != "off" and prodigal_mod.available():
            raw = prodigal_mod.call_genes(genome_obj, scored.tp.seqids, prodigal_mode, translation_table)
            prodigal_calls = _clip(raw, regions)
            baselines["pyrodigal"] = {"segment": M.segment_metrics(prodigal_calls, scored.ref_intervals),
                                      "protein_coding": M.coding_metrics(prodigal_calls, scored.ref_coding),
                                      "mode": prodigal_mode, "version": prodigal_mod.version()}
            # the model's pseudogene pass is homology, not network: pyrodigal with the same pass is the
            # strongest gene caller without the network that the row can be compared with
            passed, pseudo = no_network.pseudogene_pass(genome_obj, raw, translation_table, scored.pred)
            if passed is not raw:
                passed = _clip(passed, regions)
                baselines[PRODIGAL_WITH_PASS] = {
                    "segment": M.segment_metrics(passed, scored.ref_intervals),
                    "protein_coding": M.coding_metrics(coding_calls(passed), scored.ref_coding),
                    "mode": prodigal_mode, "version": prodigal_mod.version(), "rule": pseudo}
    return baselines, notes, prior_source, prodigal_calls


def _orf_baseline(genome_obj, scored: Scored, regions, table: int) -> dict:
    from genolong.evaluate import orf_baseline

    calls = _clip(orf_baseline.call_genes(genome_obj, scored.tp.seqids, table), regions)
    return {"segment": M.segment_metrics(calls, scored.ref_intervals),
            "protein_coding": M.coding_metrics(calls, scored.ref_coding),
            "rule": f"ORFs >= {orf_baseline.MIN_LENGTH} bp, longest first, overlap <= {orf_baseline.MAX_OVERLAP} bp, "
                    f"genetic code {table}"}


def _no_network_baseline(genome_obj, scored: Scored, regions, table: int) -> dict:
    """The network-free decoder (`no_network.py`): the ORF baseline's genes, then the self-trained
    start and coding models with the network's evidence exactly 0."""
    from genolong.annotate.orf_decode import DecodeConfig
    from genolong.evaluate import no_network

    cfg = DecodeConfig(table=table)
    calls, pseudo = no_network.pseudogene_pass(genome_obj, no_network.call_genes(genome_obj, scored.tp.seqids, table,
                                                                                scored.tok, cfg), table, scored.pred)
    calls = _clip(calls, regions)
    return {"segment": M.segment_metrics(calls, scored.ref_intervals),
            "protein_coding": M.coding_metrics(coding_calls(calls), scored.ref_coding),
            "rule": f"{no_network.rule(cfg)}; {pseudo}"}


def _rna_anchors(genome_obj, scored: Scored, regions, table: int, notes: list[str]) -> dict:
    """pyaragorn (tRNA, tmRNA) and pybarrnap (rRNA) rows: each scored on the RNA types it calls;
    a missing package is a note."""
    from genolong.evaluate import rna_anchors as R

    out = {}
    for name, kinds in (("pyaragorn", ("tRNA", "tmRNA")), ("pybarrnap", ("rRNA",))):
        if not R.available(name):
            notes.append(f"{name} is not installed (pip install genolong[prodigal]): no {'/'.join(kinds)} anchor")
            continue
        calls = (R.aragorn_calls(genome_obj, scored.tp.seqids, table) if name == "pyaragorn"
                 else R.barrnap_calls(genome_obj, scored.tp.seqids))
        out[name] = {"rna": M.rna_metrics(_clip(calls, regions), scored.ref_intervals, kinds=kinds),
                     "version": R.version(name)}
    return out


def write_evaluation(out_dir: Path, result: dict, figures: dict[str, str]) -> dict:
    """metrics.json (the scores alone: the same with or without plots) and report.md (with plots)."""
    from genolong.evaluate.report import write_report

    atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=1, default=_json_default))
    result = {**result, "plots": figures}
    write_report(out_dir / "report.md", result)
    return result


def _region_filter(regions, lengths: dict[str, int], reference: str):
    """A predicate: does an object with seqid/start/end lie wholly inside one of `regions`?"""
    if not regions:
        return lambda item: True
    seqids = sorted({seqid for seqid, _, _ in regions})
    if not set(seqids) & set(lengths):
        raise GenolongError(f"{reference}: none of the evaluation regions ({', '.join(seqids[:3])}) "
                            f"lie on the predicted records ({', '.join(list(lengths)[:3])})")
    return within_regions(regions)


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
        token = class_prior([targets], vocab.kind, n)
        index = {c: i for i, c in enumerate(vocab.classes)}
        labs = [index[by_gene[g.gene_id][0]] for g in genes if g.gene_id in by_gene]
        gene = np.bincount(labs, minlength=n)[:n] / max(len(labs), 1)
        return token, gene
    token = class_prior([targets], vocab.kind, n)
    col = {c: i for i, c in enumerate(vocab.classes)}
    gene = np.zeros(n)
    gene[0] = 1.0
    annotated = [by_gene[g.gene_id] for g in genes if by_gene.get(g.gene_id)]
    for terms in annotated:
        for t in terms:
            gene[col[t]] += 1.0 / len(annotated)
    return token, gene


def _plots(out_dir, result, scored: Scored, prodigal_calls, train_log) -> dict[str, str]:
    """Draw the figures from what was scored; returns {name: file}. Never changes `result`."""
    from genolong.evaluate import plots as P

    targets, token_probs, vocab, tok = scored.targets, scored.token_probs, scored.vocab, scored.tok
    classes, genes, tp = list(vocab.classes), scored.genes, scored.tp
    figures = {}
    cm = result["model"]["token"].get("confusion_matrix")
    if vocab.kind == "single":
        known = targets != UNKNOWN
        if cm is not None:
            P.confusion_matrix_plot(np.array(cm), classes, out_dir / "confusion_matrix.png",
                                    "token-level confusion (rows normalised)")
            figures["confusion_matrix"] = "confusion_matrix.png"
        if known.any():
            P.pr_curves_plot(targets[known], token_probs[known], classes, out_dir / "pr_curves.png",
                             "token-level precision-recall")
            figures["pr_curves"] = "pr_curves.png"
    else:
        known = ~np.any(targets[:, 1:] == UNKNOWN, axis=1)
        P.confusion_matrix_plot(np.array(result["model"]["token"]["genic_confusion_matrix"]),
                                ["intergenic", "genic"], out_dir / "confusion_matrix.png",
                                "token-level genic confusion (rows normalised)")
        figures["confusion_matrix"] = "confusion_matrix.png"
        P.pr_curves_plot(np.where(known[:, None], targets, 0), token_probs, classes, out_dir / "pr_curves.png",
                         "token-level precision-recall (genic, and terms on known tokens)")
        figures["pr_curves"] = "pr_curves.png"
    seqid = genes[0].seqid
    start = max(0, genes[0].start - 500)
    end = min(tp.lengths[seqid], start + TRACK_SPAN)
    extra = {"pyrodigal": prodigal_calls} if prodigal_calls is not None else None
    P.genome_track_plot(seqid, start, end, genes, [_Labelled(p) for p in scored.predicted], scored.probs32[seqid],
                        classes, tok.k, tok.stride, out_dir / "genome_track.png", extra)
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

