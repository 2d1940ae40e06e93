"""`report.md`: the numbers of metrics.json and the plots, side by side for a human."""

from __future__ import annotations

import os

from genolong.atomic import atomic_write_text


def _f(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render(result: dict) -> str:
    meta, kind = result["meta"], result["labels"]["kind"]
    systems = [("genolong", result["model"])] + list(result["baselines"].items())
    lines = [
        "# genolong evaluation",
        "",
        f"- predictions: `{meta['pred']}` ({meta['n_predicted_genes']} predicted genes)",
        f"- reference: `{meta['reference']}` ({meta['n_reference_genes']} genes on the annotated records, "
        f"{meta['n_labelled_reference_genes']} with a label the model knows)",
        f"- records: {len(meta['records'])}, {meta['total_bp']:,} bp; label scheme `{result['labels']['scheme']}` "
        f"({kind}, {len(result['classes'])} classes)",
        f"- prior baseline estimated from {meta['prior_from']}",
    ]
    if meta.get("regions"):
        shown = ", ".join(f"{r[0]}:{r[1] + 1:,}-{r[2]:,}" for r in meta["regions"][:3])
        lines.append(f"- scored only inside {len(meta['regions'])} region(s): {shown}"
                     f"{', ...' if len(meta['regions']) > 3 else ''} ({meta['n_scored_tokens']:,} tokens)")
    lines += [""]
    lines += [f"> {note}" for note in meta["notes"]] + ([""] if meta["notes"] else [])

    lines += ["## Token level", ""]
    token_rows = [(name, m["token"]) for name, m in systems if "token" in m]
    if kind == "single":
        lines += _table(["system", "accuracy", "macro-F1", "MCC", "mean AP"],
                        [[n, t["accuracy"], t["macro_f1"], t["mcc"], t["mean_average_precision"]] for n, t in token_rows])
        aps = result["model"]["token"]["average_precision"]
        lines += ["Per-class average precision (genolong):", ""]
        lines += _table(["class", "AP"], [[c, aps.get(c)] for c in result["classes"]])
    else:
        lines += _table(["system", "genic F1", "micro AUPRC", "macro AUPRC", "terms scored"],
                        [[n, t["genic_f1"], t["micro_auprc"], t["macro_auprc"], t["n_terms_with_positives"]]
                         for n, t in token_rows])

    lines += ["## Gene level (reference genes, probabilities pooled over each gene's parts)", ""]
    gene_rows = [(name, m["gene"]) for name, m in systems if "gene" in m]
    if kind == "single":
        lines += _table(["system", "genes", "accuracy", "macro-F1", "MCC"],
                        [[n, g["n"], g["accuracy"], g["macro_f1"], g["mcc"]] for n, g in gene_rows])
    else:
        lines += _table(["system", "genes with GO", "Fmax", "threshold", "term micro AUPRC", "term macro AUPRC"],
                        [[n, g["n_genes_with_go"], g["fmax"], g["threshold"], g["micro_auprc"], g["macro_auprc"]]
                         for n, g in gene_rows])

    lines += ["## Protein-coding genes (>= 50% reciprocal overlap, same strand)", ""]
    pc_rows = [(name, m["protein_coding"]) for name, m in systems if "protein_coding" in m]
    lines += _table(["system", "predicted", "reference", "matched", "precision", "recall", "F1", "exact stop",
                     "exact start"],
                    [[n, c["n_pred"], c["n_ref"], c["n_matched"], c["precision"], c["recall"], c["f1"],
                      c["exact_stop"], c["exact_start"]] for n, c in pc_rows])

    rna_rows = [[name, kind, r["n_ref"], r["n_pred"], r["n_matched"], r["precision"], r["recall"]]
                for name, m in systems for kind, r in m.get("rna", {}).items()]
    if rna_rows:
        lines += ["## RNA genes (per type, >= 50% reciprocal overlap, same strand)", ""]
        lines += _table(["system", "type", "reference", "predicted", "matched", "precision", "recall"], rna_rows)

    lines += ["## Segment level (predicted genes vs reference genes, >= 50% reciprocal overlap)", ""]
    seg_rows = [(name, m["segment"]) for name, m in systems if "segment" in m]
    lines += _table(["system", "predicted", "reference", "matched", "precision", "recall", "F1"],
                    [[n, s["overall"]["n_pred"], s["overall"]["n_ref"], s["overall"]["n_matched"],
                      s["overall"]["precision"], s["overall"]["recall"], s["overall"]["f1"]] for n, s in seg_rows])
    lines += ["Per reference biotype:", ""]
    rows = []
    for name, s in seg_rows:
        for biotype, b in s["by_biotype"].items():
            rows.append([name, biotype, b["n_ref"], b["n_pred"], b["precision"], b["recall"], b["f1"]])
    lines += _table(["system", "biotype", "reference", "predicted", "precision", "recall", "F1"], rows)

    if result.get("plots"):
        lines += ["## Plots", ""]
        for name, path in result["plots"].items():
            lines += [f"### {name.replace('_', ' ')}", "", f"![{name}]({path})", ""]
    return "\n".join(lines)


def write_report(path: str | os.PathLike, result: dict) -> None:
    atomic_write_text(path, render(result))
