"""The Gene Ontology graph: term names, namespaces, alt ids, ancestors and the true-path rule.

`GeneOntology.read()` parses an OBO file (plain or gzip; the embedded
`data/go-basic_2022-07-01.obo.gz` by default) with `obo.read_terms` (obonet's reading of the
fields used, several times faster). Obsolete terms are left out, so they
count as unknown. Ancestors follow `is_a` and `part_of` only: that is the propagation CAFA uses,
and go-basic keeps both inside one namespace, while `regulates` is not a "kind of" or "part of"
relation. The three namespace roots are ancestors of everything and carry no information, so
`ancestors` and `propagate` leave them out.

Information content is the information accretion of Clark & Radivojac (2013, Bioinformatics
29:i53): IA(t) = -log2 P(t | every parent of t), estimated from propagated training annotations.
It weighs the remaining uncertainty and misinformation of Smin.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from genolong.data.genome import check_readable
from genolong.data.obo import read_terms
from genolong.errors import GenolongError

ROOTS = frozenset({"GO:0003674", "GO:0008150", "GO:0005575"})
NAMESPACE_CODES = {"molecular_function": "MF", "biological_process": "BP", "cellular_component": "CC"}
DEFAULT_OBO = Path(__file__).resolve().parent.parent.parent / "data" / "go-basic_2022-07-01.obo.gz"

PROPAGATING = ("is_a", "part_of")
# The largest (genes x ancestor pairs) block `propagate_scores` gathers at once.
_GATHER_ELEMENTS = 1 << 22


class GeneOntology:
    """One OBO release: per-term parents (is_a + part_of), names, namespaces, alt id -> primary."""

    def __init__(self, parents: dict[str, tuple[str, ...]], names: dict[str, str],
                 namespaces: dict[str, str | None], alt_ids: dict[str, str], source: str = "<GO>"):
        self.source = source
        self._parents = parents
        self._n_edges = sum(map(len, parents.values())) + 1
        self._names = names
        self._namespaces = namespaces
        self._alt = alt_ids
        # Filled on demand: ancestors with roots (closure), without roots (public), depth.
        self._full: dict[str, frozenset[str]] = {}
        self._strict: dict[str, frozenset[str]] = {}
        self._depth: dict[str, int] = {}

    @classmethod
    def read(cls, path: str | os.PathLike = DEFAULT_OBO) -> GeneOntology:
        """Parse an OBO file, once per resolved path (later calls share the same object)."""
        return _read_cached(str(check_readable(path, "GO OBO file").resolve()))

    def __len__(self) -> int:
        return len(self._parents)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.primary(term) is not None

    def primary(self, term: str) -> str | None:
        """The primary id of `term` (itself, or the term whose alt_id it is); None if unknown or obsolete."""
        if term in self._parents:
            return term
        return self._alt.get(term)

    def name(self, term: str) -> str:
        p = self.primary(term)
        return self._names.get(p, "") if p else ""

    def namespace(self, term: str) -> str | None:
        """'MF', 'BP' or 'CC'; None for an unknown term."""
        p = self.primary(term)
        return self._namespaces.get(p) if p else None

    def _memoised(self, term: str, memo: dict, combine) -> object:
        """memo[term] = combine(term), after filling memo for every ancestor first (iteratively:
        no recursion limit on deep terms). A cycle, which a well-formed OBO cannot have, is an error."""
        stack = [term]
        while stack:
            t = stack[-1]
            if t in memo:
                stack.pop()
                continue
            pending = [p for p in self._parents[t] if p not in memo]
            if not pending:
                memo[stack.pop()] = combine(t)
            elif len(stack) > self._n_edges:
                raise GenolongError(f"{self.source}: {term}: is_a/part_of relations form a cycle")
            else:
                stack.extend(pending)
        return memo[term]

    def _ancestors_with_roots(self, term: str) -> frozenset[str]:
        """Strict ancestors of a primary id, roots included."""
        return self._memoised(term, self._full, lambda t: frozenset(self._parents[t]).union(
            *(self._full[p] for p in self._parents[t])))

    def ancestors(self, term: str) -> frozenset[str]:
        """Strict ancestors over is_a and part_of, the three roots left out; empty if unknown."""
        p = self.primary(term)
        if p is None:
            return frozenset()
        if p not in self._strict:
            self._strict[p] = self._ancestors_with_roots(p) - ROOTS
        return self._strict[p]

    def propagate(self, terms: Iterable[str]) -> set[str]:
        """Primary ids of the known `terms` and all their ancestors, roots left out (true-path rule)."""
        out: set[str] = set()
        for t in terms:
            p = self.primary(t)
            if p is not None:
                out.add(p)
                out |= self.ancestors(p)
        return out - ROOTS

    def _closed(self, term: str) -> frozenset[str]:
        """The term (as its primary id) and every ancestor, roots included; just itself if unknown."""
        p = self.primary(term)
        return frozenset({term}) if p is None else self._ancestors_with_roots(p) | {p}

    def closure(self, terms: Sequence[str]) -> np.ndarray:
        """(T, T) bool: [i, j] is True when terms[j] is terms[i] or one of its ancestors."""
        ids = [self.primary(t) or t for t in terms]
        index: dict[str, list[int]] = {}
        for j, t in enumerate(ids):
            index.setdefault(t, []).append(j)
        out = np.zeros((len(ids), len(ids)), dtype=bool)
        for i, t in enumerate(terms):
            for a in self._closed(t):
                out[i, index.get(a, [])] = True
        return out

    def propagate_scores(self, scores: np.ndarray, terms: Sequence[str]) -> np.ndarray:
        """(n, T) scores -> (n, T) where every term scores the max of itself and its descendants in `terms`.

        Consistent scores obey the true-path rule: a gene cannot have a term more surely than the
        term's parents. Each column gathers the columns it is an ancestor of (itself included, so
        no segment is empty) and reduces them with one `np.maximum.reduceat`, in row blocks.
        """
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[1] != len(terms):
            raise ValueError(f"scores of shape {scores.shape} do not match {len(terms)} terms")
        cols, rows = np.nonzero(self.closure(terms).T)  # sorted by ancestor column
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        out = np.empty_like(scores)
        if scores.shape[0] == 0 or len(terms) == 0:
            return out
        block = max(1, _GATHER_ELEMENTS // rows.size)
        for lo in range(0, scores.shape[0], block):
            out[lo:lo + block] = np.maximum.reduceat(scores[lo:lo + block, rows], starts, axis=1)
        return out

    def depth(self, term: str) -> int:
        """Longest is_a/part_of path up to a root (0 for a root or an unknown term).

        The longest path, not the shortest, so that a descendant is always deeper than each ancestor.
        """
        p = self.primary(term)
        if p is None:
            return 0
        return self._memoised(p, self._depth,
                              lambda t: 1 + max((self._depth[q] for q in self._parents[t]), default=-1))

    def specific_first(self, terms: Iterable[str]) -> list[str]:
        """`terms` ordered deepest first (ties by id): no term comes before one of its descendants."""
        return sorted(terms, key=lambda t: (-self.depth(t), t))

    def information_content(self, annotations: Iterable[set[str]]) -> dict[str, float]:
        """Information accretion -log2 P(t | all parents of t) per term seen in the annotations.

        The annotations are propagated here (a no-op when they already are). A root parent counts
        as annotated for every gene with a term in its namespace. Terms seen 0 times are left out.
        """
        genes_with: dict[str, set[int]] = {}
        n_genes = 0
        for g, terms in enumerate(annotations):
            n_genes += 1
            closed = self.propagate(terms)
            spaces = {self.namespace(t) for t in closed}
            closed |= {r for r in ROOTS if r in self and self.namespace(r) in spaces}
            for t in closed:
                genes_with.setdefault(t, set()).add(g)
        everyone = set(range(n_genes))  # P(t | no parent): a parentless term outside the roots
        ic = {}
        for t, genes in genes_with.items():
            if t in ROOTS:
                continue
            parent_genes = everyone.intersection(*(genes_with[p] for p in self._parents[t]))
            ic[t] = -math.log2(len(genes) / len(parent_genes)) + 0.0  # + 0.0: no -0.0
        return ic


def _namespace_code(data: dict, path: str, term: str) -> str | None:
    ns = data.get("namespace")
    if ns is not None and ns not in NAMESPACE_CODES:
        raise GenolongError(f"{path}: {term}: unknown GO namespace {ns!r}")
    return NAMESPACE_CODES.get(ns)


@lru_cache(maxsize=4)
def _read_cached(path: str) -> GeneOntology:
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt", encoding="utf-8") if gzipped else open(path, encoding="utf-8")) as fh:
            terms = read_terms(fh)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as e:
        raise GenolongError(f"{path}: cannot read as OBO: {' '.join(str(e).split())}") from e
    if not terms.nodes:
        raise GenolongError(f"{path}: no GO terms ([Term] stanzas with an id) in the file")
    parents: dict[str, list[str]] = {t: [] for t in terms.nodes}
    for child, relation, parent in dict.fromkeys(terms.edges):  # a graph keeps one edge per (child, relation, parent)
        if relation in PROPAGATING:
            parents[child].append(parent)
    names = {t: d.get("name", "") for t, d in terms.nodes.items()}
    namespaces = {t: _namespace_code(d, path, t) for t, d in terms.nodes.items()}
    alt_ids = {alt: t for t, d in terms.nodes.items() for alt in d.get("alt_id", ()) if alt not in parents}
    return GeneOntology({t: tuple(sorted(ps)) for t, ps in parents.items()}, names, namespaces, alt_ids, path)


def term_vocabulary(annotations: Iterable[set[str]], min_genes: int = 5) -> list[str]:
    """Terms of at least `min_genes` genes, most frequent first (ties by id).

    Pass propagated annotations (`GeneOntology.propagate`), so a parent counts every gene of its children.
    """
    counts = Counter(t for terms in annotations for t in set(terms))
    return sorted((t for t, n in counts.items() if n >= min_genes), key=lambda t: (-counts[t], t))
