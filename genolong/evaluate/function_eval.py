"""Where each part of the gene function earns its keep: the output (network + homology, as written
to the GFF3), the network alone, homology alone and the training prior, scored on the same
reference genes from `PREFIX.function.npz` (written by `genolong annotate --annotation`).

Per system:
- `gene`: today's top-20 figure (`gene.fmax` on the token vocabulary's terms, or class accuracy
  and macro-F1), so runs before the per-gene head stay comparable;
- `function.cafa`: CAFA protein-centric Fmax and Smin per namespace (MF, BP, CC) on terms
  propagated up the GO graph, over the model's vocabulary (every GO term with >= 5 training genes);
- `function.product_agreement`: the share of matched reference CDS with a named product whose
  called product is the same after normalising case and punctuation; `function.coverage`: the
  share of called CDS with a named product (a name, not a class label). Only the output names
  products (from its homologs), so the network-alone row has none;
- `function.bands`: the top-20 figure again within each band of the best homolog's identity,
  where near-identical orthologs make any blend look perfect and the low bands show the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SYSTEMS = ("output", "network alone", "homologs alone", "training prior")


def _vocab_columns(scores: np.ndarray, outputs: list[str], vocab) -> np.ndarray:
    """Scores over `outputs` laid out as the token vocabulary's columns (n, C): genic / intergenic
    first, a vocabulary class the per-gene head does not predict scores 0."""
    col = {t: i for i, t in enumerate(outputs)}
    out = np.zeros((scores.shape[0], len(vocab.classes)), dtype=np.float64)
    for j, c in enumerate(vocab.classes):
        if c in col:
            out[:, j] = scores[:, col[c]]
    if vocab.kind == "multilabel":
        out[:, 0] = 1.0
    return out


def function_metrics(pred: str, scored, gene_level) -> tuple[dict | None, dict, list[str]]:
    """(metrics of the output to merge into `model`, {system: metrics} of the other parts, notes)."""
    from genolong.annotate.function import load_function

    path = Path(f"{pred}.function.npz")
    if not path.is_file():
        return None, {}, [f"{path.name}: none (checkpoint without a gene-function head): the model's gene row "
                          f"pools the token head"]
    meta, predicted, reference = load_function(path)
    if reference is None:
        return None, {}, [f"{path}: annotated without --annotation: the per-gene function is not scored"]
    outputs, kind, recipe = list(meta["outputs"]), meta["kind"], meta["recipe"]
    vocab = scored.vocab
    ontology = None
    if kind == "multilabel":
        from genolong.data.ontology import GeneOntology

        ontology = GeneOntology.read()

    def propagated(p):
        return ontology.propagate_scores(p, outputs) if ontology is not None else p

    row = {g: i for i, g in enumerate(reference.gene_ids)}
    genes = scored.pooled_genes
    rows = [row.get(g.gene_id, -1) for g in genes]
    have = np.array([r >= 0 for r in rows], dtype=bool)
    identity = np.array([reference.identity[r] if r >= 0 else np.nan for r in rows])
    homology = reference.homology if reference.homology is not None else np.zeros_like(reference.output)
    has_hit = ~np.isnan(reference.identity)
    prior = np.tile(np.asarray(recipe.get("prior", np.zeros(len(outputs))), dtype=np.float64),
                    (len(reference.gene_ids), 1))
    per_system = {
        "output": reference.output,
        "network alone": propagated(reference.network),
        # homology transfer as a standalone tool does it: the training prior where the search finds nothing
        "homologs alone": propagated(np.where(has_hit[:, None], homology, prior)),
        "training prior": prior,
    }
    if reference.homology is None:
        per_system.pop("homologs alone")
    products = _product_figures(scored, predicted)
    from genolong.evaluate.function_metrics import BANDS, identity_band

    bands = np.array([identity_band(None if np.isnan(i) else float(i)) for i in identity])
    results = {}
    for name, scores in per_system.items():
        full = np.zeros((len(genes), len(outputs)), dtype=np.float64)
        full[have] = scores[[r for r in rows if r >= 0]]
        probs = _vocab_columns(full, outputs, vocab)
        metrics = {"gene": gene_level(genes, scored.ref.by_gene, probs, vocab)}
        function = {"bands": {}}
        # below 90% identity together: where orthologs are not near-identical and a blend has to earn
        below = [i for i in range(len(genes)) if bands[i] != BANDS[0]]
        sub = gene_level([genes[i] for i in below], scored.ref.by_gene, probs[below], vocab)
        function["below_90"] = {k: sub.get(k) for k in ("fmax", "macro_f1", "accuracy", "n_genes_with_go")
                                if k in sub}
        function["below_90"]["n_reference_genes"] = len(below)
        for band in BANDS:
            chosen = [i for i in range(len(genes)) if bands[i] == band]
            sub = gene_level([genes[i] for i in chosen], scored.ref.by_gene, probs[chosen], vocab)
            function["bands"][band] = {k: sub.get(k) for k in ("fmax", "macro_f1", "accuracy", "n_genes_with_go",
                                                                "n_genes") if k in sub}
            function["bands"][band]["n_reference_genes"] = len(chosen)
        if ontology is not None:
            function["cafa"] = _cafa(scored, genes, full, have, outputs, ontology, recipe)
        if name in ("output", "homologs alone"):  # the names written come from the homologs
            function.update(products)
        elif name == "network alone":
            function.update({"product_agreement": 0.0 if products.get("n_named_reference") else None,
                             "coverage": 0.0, "note": "the network names classes and GO terms, not products"})
        metrics["function"] = function
        results[name] = metrics
    output = results.pop("output")
    output["function"]["evidence"] = meta.get("evidence", "")
    output["function"]["recipe"] = {k: recipe.get(k) for k in ("alpha", "alpha_low", "trust_identity", "vote_fraction",
                                                                 "go_threshold", "product_identity",
                                                                 "val_output", "val_network", "val_homology")}
    return output, results, []


def _cafa(scored, genes, scores, have, outputs, ontology, recipe) -> dict:
    from genolong.data.labels import go_terms
    from genolong.evaluate.function_metrics import namespace_fmax, namespace_smin

    vocab_terms = set(outputs)
    true = [ontology.propagate(go_terms(g)) & vocab_terms for g in genes]
    keep = [i for i, t in enumerate(true) if t]
    if not keep:
        return {}
    true = [true[i] for i in keep]
    s = scores[keep]
    out = namespace_fmax(true, s, outputs, ontology)
    ic = recipe.get("ic") or {}
    if ic:
        smin = namespace_smin(true, s, outputs, ontology, ic)
        for ns, v in smin.items():
            out.setdefault(ns, {}).update(v)
    return out


def _product_figures(scored, predicted) -> dict:
    """Product agreement over matched reference CDS and coverage over the called CDS."""
    from genolong.evaluate import metrics as M
    from genolong.evaluate.function_metrics import coverage, product_agreement

    calls = [M.Interval(s, a, b, st, "protein_coding") for s, a, b, st in predicted.locations]
    ref_genes = [g for g in scored.genes if g.biotype == "protein_coding"]
    refs = [M.Interval(g.seqid, g.start, g.end, g.strand, "protein_coding") for g in ref_genes]
    pairs = []
    for i, j in M.match_segments(calls, refs):
        ref_product = (ref_genes[j].attributes.get("product") or [""])[0]
        pairs.append((ref_product, predicted.products[i]))
    agreement = product_agreement(pairs)
    cov = coverage(predicted.products)
    return {"product_agreement": agreement.get("agreement"), "n_named_reference": agreement.get("n"),
            "coverage": cov.get("coverage"), "n_called_cds": cov.get("n")}
