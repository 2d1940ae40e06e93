"""The function of each gene: the per-gene network, homology to the training proteins, and
their blend, turned into what a biologist reads (a product name, GO terms, an `inference`).

Evidence, per protein-coding gene:
- **network**: `GeneFunctionNet` (`models/gene_function.py`) on the gene's translation and the
  DNA encoder's states pooled over its tokens;
- **homology**: a search of the translation against the kept index of the training genomes'
  labelled proteins (`annotate/homology.py`), each output scored as the bitscore-weighted share
  of hits that carry it (DeepGOPlus);
- **output**: `alpha * homology + (1 - alpha) * network` where the search found a hit, the network
  alone where it found none; trust goes by identity: one `alpha` for hits of at least
  `TRUST_IDENTITY` identity, another (`alpha_low`) for weaker ones; GO scores are then propagated up the GO graph (a parent scores at
  least its best child). `alpha`, the GO threshold and the product identity were chosen on the
  training genomes' validation regions by `genolong fit-function` and travel in its recipe.

Names: a gene's product is its best hit's product when that hit reaches the recipe's identity
(`inference=similar to AA sequence:<genome>:<locus>`), else `hypothetical protein`
(`inference=ab initio prediction:genolong:<version>`). The network's class or GO terms go in their
own attributes, never in `product`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolong.errors import GenolongError

from genolong.annotate.formats import UNKNOWN_PRODUCT
from genolong.data.labels import is_named_product, product_class_name

FUNCTION_FILE = "gene_function.pt"
HOMOLOGY_FILE = "homology.json.gz"


@dataclass
class FunctionScores:
    """Per-gene scores (n, T) over the bundle's outputs, for one list of genes."""

    gene_ids: list[str]
    network: np.ndarray
    homology: np.ndarray | None  # None: no index
    output: np.ndarray
    identity: np.ndarray  # (n,) best hit's identity in [0, 1]; NaN: no hit (or no index)
    best: list  # (IndexedProtein, identity) of the best hit with a named product, or None
    hits: list | None = None  # per gene, every homology.Hit of the search (None: no index); pseudogenes.py reads them

    def subset(self, rows) -> "FunctionScores":
        rows = list(rows)
        return FunctionScores([self.gene_ids[i] for i in rows], self.network[rows],
                              None if self.homology is None else self.homology[rows], self.output[rows],
                              self.identity[rows], [self.best[i] for i in rows],
                              None if self.hits is None else [self.hits[i] for i in rows])


@dataclass
class GeneFunction:
    """What the writers put on one called CDS."""

    product: str
    inference: str
    go: list[tuple[str, float]] = field(default_factory=list)  # (term, score), most specific first
    function_class: str | None = None  # single-label vocabularies: the predicted class
    score: float = 0.0  # the output's score of the top term or class


TRUST_IDENTITY = 0.5  # hits at least this identical take `alpha`, weaker ones `alpha_low`


def blend(network: np.ndarray, homology: np.ndarray | None, has_hit: np.ndarray, alpha) -> np.ndarray:
    """`alpha * homology + (1 - alpha) * network` on genes with a hit, the network elsewhere;
    `alpha` one number, or one per gene (n,)."""
    if homology is None:
        return network.copy()
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1, 1) if np.ndim(alpha) else float(alpha)
    mixed = alpha * homology + (1.0 - alpha) * network
    return np.where(np.asarray(has_hit, dtype=bool)[:, None], mixed, network)


class FunctionPredictor:
    """The bundle's network, the homology index (optional) and the GO graph, applied to genes."""

    def __init__(self, bundle, index=None, ontology=None, threads: int = 1, progress: bool = False,
                 index_source: str = ""):
        self.bundle = bundle
        self.net = bundle.build()
        self.outputs = list(bundle.outputs)
        self.kind = bundle.config.kind
        self.recipe = dict(bundle.recipe)
        self.index, self.ontology = index, ontology
        self.threads, self.progress = threads, progress
        self.index_source = index_source
        if self.kind == "multilabel" and ontology is None:
            raise GenolongError("gene function: a GO vocabulary needs the GO graph")
        self._terms_cache: dict[int, set] = {}

    @property
    def alpha(self) -> float:
        return float(self.recipe.get("alpha", 0.5))

    def alphas(self, identity: np.ndarray) -> np.ndarray:
        """Each gene's blend weight by its best hit's identity (recipes without `alpha_low`: one weight)."""
        low = float(self.recipe.get("alpha_low", self.alpha))
        return np.where(np.nan_to_num(identity, nan=0.0) >= TRUST_IDENTITY, self.alpha, low)

    @property
    def go_threshold(self) -> float:
        return float(self.recipe.get("go_threshold", 0.5))

    @property
    def product_identity(self) -> float:
        return float(self.recipe.get("product_identity", 0.5))

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, homology: str | os.PathLike | None = None,
                        use_homology: bool = True, threads: int = 1, progress: bool = False
                        ) -> "FunctionPredictor | None":
        """The gene-function bundle saved beside `checkpoint` (None when there is none), with the
        homology index given, else the one beside the checkpoint, else none."""
        from genolong.annotate.homology import HomologyIndex

        from genolong.models.bundle_file import folder_beside

        directory = folder_beside(checkpoint)
        path = directory / FUNCTION_FILE
        if not path.is_file():
            if homology is not None and use_homology:
                raise GenolongError(f"--homology {homology}: the checkpoint has no gene-function head beside it "
                                    f"({path}); run `genolong fit-function` first")
            return None
        bundle = load_bundle(path)
        index, source = None, ""
        if use_homology:
            index_path = Path(homology) if homology is not None else directory / HOMOLOGY_FILE
            if homology is not None or index_path.is_file():
                index, source = HomologyIndex.load(index_path), str(index_path)
        ontology = None
        if bundle.config.kind == "multilabel":
            from genolong.data.ontology import GeneOntology

            ontology = GeneOntology.read()
        return cls(bundle, index, ontology, threads, progress, source)

    # ---- scores -------------------------------------------------------------------------
    def _labels_of(self, protein) -> set:
        key = id(protein)
        if key not in self._terms_cache:
            if self.kind == "multilabel":
                self._terms_cache[key] = self.ontology.propagate(protein.terms)
            else:
                c = product_class_name(protein.product)
                self._terms_cache[key] = {c} if c else set()
        return self._terms_cache[key]

    @property
    def vote_fraction(self) -> float:
        return float(self.recipe.get("vote_fraction", 0.0))

    def homology_scores(self, proteins: list[str], exclude_genomes: list[str] | None = None,
                        vote_fractions=None, with_hits: bool = False):
        """(scores (n, T), identity (n,), best named IndexedProtein per gene) from the index.

        Only hits that carry a label vote, and the identity is the best voting hit's: half of a
        clade's orthologs may lack GO terms in one genome's annotation, and a hit that says nothing
        must not dilute the ones that do. Of those, the hits within the recipe's `vote_fraction` of
        the best bitscore vote (0: all of them, DeepGOPlus; 1: the best hit alone, as a BLAST
        best-hit transfer does). The name comes from the best hit with a named product.
        `exclude_genomes` (one per query): hits to that genome's proteins are left out.
        `vote_fractions` (a list): scores for each of them instead, {fraction: (n, T)}.
        `with_hits`: the search's hits per protein come fourth."""
        from genolong.annotate.homology import best_hit, term_scores

        unique = list(dict.fromkeys(proteins))  # a called gene and its reference gene share a protein
        found = dict(zip(unique, self.index.search(unique, threads=self.threads, progress=self.progress)))
        hits = [found[p] for p in proteins]
        if exclude_genomes is not None:
            hits = [[h for h in hs if self.index.proteins[h.target].genome != g] for hs, g in zip(hits, exclude_genomes)]
        voting = [[h for h in hs if self._labels_of(self.index.proteins[h.target])] for hs in hits]
        best_vote = [best_hit(h) for h in voting]

        def votes(fraction):
            kept = [[h for h in hs if h.bitscore >= fraction * b.bitscore] if b is not None else []
                    for hs, b in zip(voting, best_vote)]
            return term_scores(kept, self.index, self.outputs, terms_of=self._labels_of).astype(np.float32)

        scores = {f: votes(f) for f in vote_fractions} if vote_fractions is not None else votes(self.vote_fraction)
        identity = np.array([np.nan if b is None else b.identity for b in best_vote], dtype=np.float64)
        named = [best_hit([h for h in hs if is_named_product(self.index.proteins[h.target].product)]) for hs in hits]
        out = (scores, identity, [None if b is None else (self.index.proteins[b.target], b.identity) for b in named])
        return (*out, hits) if with_hits else out

    def score(self, gene_ids: list[str], proteins: list[str], states: np.ndarray | None) -> FunctionScores:
        from genolong.models.gene_function import predict_gene_function

        network = predict_gene_function(self.net, proteins, states, threads=self.threads)
        n = len(proteins)
        if self.index is None:
            homology, identity, best, hits = None, np.full(n, np.nan), [None] * n, None
        else:
            homology, identity, best, hits = self.homology_scores(proteins, with_hits=True)
        output = blend(network, homology, ~np.isnan(identity), self.alphas(identity))
        if self.kind == "multilabel":
            output = self.ontology.propagate_scores(output, self.outputs)
        return FunctionScores(list(gene_ids), network, homology, output.astype(np.float32), identity, best, hits)

    # ---- names --------------------------------------------------------------------------
    def gene_function(self, scores: FunctionScores, row: int) -> GeneFunction:
        from genolong import __version__

        best, identity = scores.best[row] or (None, 0.0)
        named = best is not None and identity >= self.product_identity
        if named:
            product, inference = best.product, f"similar to AA sequence:{best.genome}:{best.locus}"
        else:
            product, inference = UNKNOWN_PRODUCT, f"ab initio prediction:genolong:{__version__}"
        out = scores.output[row]
        if self.kind == "multilabel":
            chosen = [(t, float(s)) for t, s in zip(self.outputs, out) if s >= self.go_threshold]
            order = {t: i for i, t in enumerate(self.ontology.specific_first([t for t, _ in chosen]))}
            chosen.sort(key=lambda ts: order[ts[0]])
            return GeneFunction(product, inference, chosen, None, float(out.max()) if out.size else 0.0)
        top = int(np.argmax(out))
        return GeneFunction(product, inference, [], self.outputs[top], float(out[top]))

    def describe(self) -> str:
        """One line for the log: which evidence the output carries."""
        if self.index is None:
            return "gene function: network alone (no homology index)"
        low = float(self.recipe.get("alpha_low", self.alpha))
        return (f"gene function: network + homology ({len(self.index.proteins)} proteins in {self.index_source}, "
                f"alpha {self.alpha:.2f} for hits >= {TRUST_IDENTITY:.0%} identity, {low:.2f} below)")


def load_bundle(path: str | os.PathLike):
    """A `GeneFunctionBundle` from `gene_function.pt` (weights only: never unpickles objects)."""
    from genolong.models import bundle_file
    from genolong.models.gene_function import GeneFunctionBundle

    return bundle_file.load(path, GeneFunctionBundle.from_dict, "gene-function")


def save_bundle(path: str | os.PathLike, bundle) -> None:
    from genolong.models import bundle_file

    bundle_file.save(path, bundle)


def pool_states(states, genes, k: int, stride: int) -> np.ndarray:
    """(n, d) mean of `states` (n_tokens, d; an array or a column view of a SpillArray) over each
    gene's tokens (its parts' tokens by the centre rule); zeros for a gene with none."""
    from genolong.annotate.genes import part_tokens

    n_tokens, d = states.shape
    out = np.zeros((len(genes), d), dtype=np.float32)
    for row, g in enumerate(genes):
        parts = getattr(g, "parts", None) or ((g.start, g.end, g.strand),)
        idx = np.unique(np.concatenate([part_tokens(s, e, k, stride, n_tokens) for s, e, _ in parts]))
        if idx.size:
            block = np.asarray(states[int(idx[0]) : int(idx[-1]) + 1], dtype=np.float32)
            out[row] = block[idx - idx[0]].mean(axis=0)
    return out


def with_neighbours(states: np.ndarray, genes, neighbours: int) -> np.ndarray:
    """(n, 3d): each gene's pooled states, then the mean states of the `neighbours` genes before
    it and of those after it on its record, in the gene's own orientation (upstream first for a
    minus-strand gene too): operons and conserved neighbourhoods carry function. Zeros where a
    gene has no neighbour on that side. `neighbours` 0: the states as they are."""
    if neighbours <= 0:
        return states
    n, d = states.shape
    out = np.zeros((n, 3 * d), dtype=np.float32)
    out[:, :d] = states
    by_record: dict[str, list[int]] = {}
    for i, g in enumerate(genes):
        by_record.setdefault(g.seqid, []).append(i)
    for rows in by_record.values():
        rows.sort(key=lambda i: (genes[i].start, genes[i].end))
        for pos, i in enumerate(rows):
            left = rows[max(0, pos - neighbours) : pos]
            right = rows[pos + 1 : pos + 1 + neighbours]
            up, down = (right, left) if genes[i].strand == "-" else (left, right)
            if up:
                out[i, d : 2 * d] = states[up].mean(axis=0)
            if down:
                out[i, 2 * d :] = states[down].mean(axis=0)
    return out


def translate_gene(genome, gene, table: int) -> str:
    """A gene's protein over all its parts, written as the GFF3/FAA writers write a called CDS
    (`formats.translate_bases`: the start as M, the stop dropped, non-amino-acid codons as X)."""
    from Bio.Seq import reverse_complement

    from genolong.annotate.formats import translate_bases
    from genolong.data.genome import fetch_circular

    parts = getattr(gene, "parts", None) or ((gene.start, gene.end, gene.strand),)
    strand = gene.strand if gene.strand in "+-" else parts[0][2]
    bases = "".join(fetch_circular(genome, gene.seqid, s, e).decode("ascii") for s, e, _ in sorted(parts))
    return translate_bases(bases if strand == "+" else reverse_complement(bases), table)


@dataclass
class FunctionResult:
    """Per-gene function of one annotation: the called CDS and, when a reference was given, the
    reference's protein-coding genes (scored the same way, for `genolong evaluate`)."""

    outputs: list[str]
    kind: str
    recipe: dict
    evidence: str  # FunctionPredictor.describe()
    predicted: FunctionScores
    reference: FunctionScores | None = None
    products: dict = field(default_factory=dict)  # predicted gene_id -> product written
    locations: dict = field(default_factory=dict)  # predicted gene_id -> (seqid, start, end, strand)
    pseudogenes: dict | None = None  # pseudogenes.record of the pass over these calls; None: no pass


def annotate_function(predictor: FunctionPredictor, genome, table: int, predicted: list, reference: list | None,
                      states: dict | None, k: int, stride: int) -> FunctionResult:
    """Score the protein-coding calls (and reference genes), attach a `GeneFunction` to each call."""
    import sys

    print(predictor.describe(), file=sys.stderr)
    sets = [[g for g in predicted if g.biotype == "protein_coding"]]
    if reference is not None:  # pseudogenes too: their function is annotated, and their fragments get called
        sets.append([g for g in reference if g.biotype in ("protein_coding", "pseudogene")])
    proteins = [[translate_gene(genome, g, table) for g in genes] for genes in sets]
    pooled = []
    cfg = predictor.net.cfg
    width = cfg.d_states // 3 if cfg.neighbours else cfg.d_states
    for genes in sets:
        rows = np.zeros((len(genes), width), dtype=np.float32)
        if states is not None and width:
            for seqid in {g.seqid for g in genes}:
                idx = [i for i, g in enumerate(genes) if g.seqid == seqid]
                rows[idx] = pool_states(states[seqid], [genes[i] for i in idx], k, stride)
        pooled.append(with_neighbours(rows, genes, cfg.neighbours))
    # one search for both sets: a called gene and its reference gene usually share their protein
    flat_ids = [g.gene_id for genes in sets for g in genes]
    scores = predictor.score(flat_ids, [p for ps in proteins for p in ps], np.concatenate(pooled))
    n_pred = len(sets[0])
    pred = scores.subset(range(n_pred))
    ref = scores.subset(range(n_pred, len(flat_ids))) if reference is not None else None
    products = {}
    for genes, part in ((sets[0], pred), (sets[1] if ref is not None else [], ref)):
        for row, g in enumerate(genes):
            g.function = predictor.gene_function(part, row)
    for g in sets[0]:
        products[g.gene_id] = g.function.product
    locations = {g.gene_id: (g.seqid, g.start, g.end, g.strand) for g in sets[0]}
    return FunctionResult(predictor.outputs, predictor.kind, predictor.recipe, predictor.describe(), pred, ref,
                          products, locations)


def _scores_arrays(prefix: str, s: FunctionScores, products: list[str]) -> dict:
    best = [("", "", "") if b is None else (b[0].genome, b[0].locus, b[0].product) for b in s.best]
    out = {f"{prefix}_ids": np.array(s.gene_ids, dtype=str), f"{prefix}_network": s.network,
           f"{prefix}_output": s.output, f"{prefix}_identity": s.identity,
           f"{prefix}_best": np.array(best, dtype=str).reshape(len(best), 3),
           f"{prefix}_product": np.array(products, dtype=str)}
    if s.homology is not None:
        out[f"{prefix}_homology"] = s.homology
    return out


def save_function(path: str | os.PathLike, result: FunctionResult) -> None:
    """PREFIX.function.npz: every per-gene score array, plain arrays and a JSON `meta` (no pickles)."""
    import json

    from genolong.atomic import atomic_open

    arrays = {"meta": np.array(json.dumps({"format": 1, "outputs": result.outputs, "kind": result.kind,
                                            "recipe": result.recipe, "evidence": result.evidence,
                                            **({"pseudogenes": result.pseudogenes} if result.pseudogenes else {})}))}
    arrays.update(_scores_arrays("predicted", result.predicted,
                                 [result.products.get(i, UNKNOWN_PRODUCT) for i in result.predicted.gene_ids]))
    locs = [result.locations.get(i, ("", 0, 0, ".")) for i in result.predicted.gene_ids]
    arrays["predicted_location"] = np.array([[s, str(a), str(b), st] for s, a, b, st in locs], dtype=str).reshape(-1, 4)
    if result.reference is not None:
        arrays.update(_scores_arrays("reference", result.reference, [""] * len(result.reference.gene_ids)))
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


@dataclass
class SavedScores:
    gene_ids: list[str]
    network: np.ndarray
    homology: np.ndarray | None
    output: np.ndarray
    identity: np.ndarray
    best: list[tuple[str, str, str]]  # (genome, locus, product) of the best hit; '' where none
    products: list[str]
    locations: list[tuple[str, int, int, str]] = field(default_factory=list)  # predicted genes only


def load_function(path: str | os.PathLike) -> tuple[dict, SavedScores, SavedScores | None]:
    """(meta, predicted, reference or None) from PREFIX.function.npz."""
    import json
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))

            def part(prefix):
                if f"{prefix}_ids" not in z:
                    return None
                locs = [(str(s), int(a), int(b), str(st)) for s, a, b, st in z[f"{prefix}_location"]] \
                    if f"{prefix}_location" in z else []
                return SavedScores([str(i) for i in z[f"{prefix}_ids"]], z[f"{prefix}_network"],
                                   z[f"{prefix}_homology"] if f"{prefix}_homology" in z else None,
                                   z[f"{prefix}_output"], z[f"{prefix}_identity"],
                                   [tuple(str(x) for x in r) for r in z[f"{prefix}_best"]],
                                   [str(p) for p in z[f"{prefix}_product"]], locs)

            return meta, part("predicted"), part("reference")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise GenolongError(f"{path}: not a readable genolong function file: {exc}") from None
