"""Homology index: planted proteins transfer their labels, the file round-trips and is checked,
scores are the bitscore-weighted votes, and genomes translate as Biopython does."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Data.CodonTable import TranslationError

from genolong.annotate.homology import (Hit, HomologyIndex, IndexedProtein, MIN_QUERY_LENGTH, best_hit,
                                        label_scores, proteins_from_genome, proteins_from_stores, term_scores,
                                        translate_cds)
from genolong.cli import main
from genolong.data.labels import UNKNOWN_PRODUCT
from genolong.data.store import TokenStore
from genolong.errors import GenolongError

AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def random_protein(rng, length=300) -> str:
    return "M" + "".join(rng.choice(AMINO, length - 1))


def mutate(rng, seq: str, fraction: float) -> str:
    """`fraction` of the residues (never the first) replaced by a different amino acid."""
    out = list(seq)
    for i in rng.choice(np.arange(1, len(seq)), int(fraction * len(seq)), replace=False):
        out[i] = rng.choice(AMINO[AMINO != out[i]])
    return "".join(out)


@pytest.fixture(scope="module")
def planted():
    """An index of 40 random proteins; protein 7 is the planted one with its own terms/product."""
    rng = np.random.default_rng(7)
    proteins = [IndexedProtein("decoys", f"D{i:02d}", "ABC transporter permease", ("GO:0000001",), random_protein(rng))
                for i in range(40)]
    proteins[7] = IndexedProtein("planted", "P1", "DNA gyrase subunit A", ("GO:0003918", "GO:0005524"),
                                 random_protein(rng))
    return HomologyIndex(proteins), rng


def test_planted_protein_transfers_to_mutated_copy_only(planted):
    index, rng = planted
    copy = mutate(rng, index.proteins[7].sequence, 0.2)
    unrelated = random_protein(rng)
    hits = index.search([copy, unrelated])
    assert [h.target for h in hits[0]] == [7]
    hit = hits[0][0]
    assert 0.75 <= hit.identity <= 0.85  # 20% substitutions, no gaps needed
    assert hit.query_coverage > 0.95 and hit.evalue < 1e-30 and hit.bitscore > 200
    assert hits[1] == []
    terms = ["GO:0003918", "GO:0005524", "GO:0000001"]
    np.testing.assert_array_equal(term_scores(hits, index, terms), [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert index.proteins[best_hit(hits[0]).target].product == "DNA gyrase subunit A"


def test_search_reports_real_alignments_sorted_and_capped(planted):
    index, rng = planted
    # the planted protein and a 30%-mutated cousin: hits to both, the closer one first; a prefix hits too
    cousin = IndexedProtein("x", "P2", "gyrase", (), mutate(rng, index.proteins[7].sequence, 0.3))
    extra = HomologyIndex(index.proteins + [cousin])
    hits = extra.search([index.proteins[7].sequence, index.proteins[7].sequence[:120], "MKV", ""])
    assert [h.target for h in hits[0]] == [7, 40]
    assert hits[0][0].identity == 1.0 and hits[0][0].query_coverage == 1.0
    assert hits[0][0].bitscore > hits[0][1].bitscore
    assert hits[1][0].target == 7 and hits[1][0].identity == 1.0
    assert hits[2] == [] and hits[3] == [] and len("MKV") < MIN_QUERY_LENGTH
    # a 10-residue deletion: identity counts the gap columns (290 identical of 300 columns)
    seq = index.proteins[7].sequence
    gapped = extra.search([seq[:150] + seq[160:]])[0][0]
    assert gapped.target == 7 and gapped.identity == pytest.approx(290 / 300) and gapped.query_coverage == 1.0
    assert [[h.target for h in q] for q in extra.search([index.proteins[7].sequence], max_hits=1)] == [[7]]
    assert extra.search([index.proteins[7].sequence], threads=2) == hits[:1]
    assert extra.search([index.proteins[7].sequence], candidates=0) == hits[:1]  # exhaustive


def test_empty_and_odd_targets_and_queries(planted):
    index, _ = planted
    seq = index.proteins[7].sequence
    odd = HomologyIndex([IndexedProtein("x", "empty", "", ("GO:1",), ""), IndexedProtein("x", "short", "kinase", (), "MK"),
                         index.proteins[7]])
    for candidates in (64, 0):
        hits = odd.search([seq.lower() + "*", "ACGU" * 20], candidates=candidates)
        assert [h.target for h in hits[0]] == [2] and hits[0][0].identity == 1.0
        assert hits[1] == []
    assert HomologyIndex([]).search([seq]) == [[]]


def test_save_load_round_trip(planted, tmp_path):
    index, rng = planted
    path = tmp_path / "index.json.gz"
    sha = index.save(path)
    assert (tmp_path / "index.json.gz.sha256").read_text() == f"{sha}  index.json.gz\n"
    loaded = HomologyIndex.load(path)
    assert loaded.proteins == index.proteins and loaded.sha256 == sha == index.sha256
    assert HomologyIndex(loaded.proteins).save(tmp_path / "again.json.gz") == sha  # same proteins, same bytes
    query = mutate(rng, index.proteins[7].sequence, 0.2)
    assert loaded.search([query]) == index.search([query])


def test_bad_files_raise(planted, tmp_path):
    index, _ = planted
    path = tmp_path / "index.json.gz"
    index.save(path)
    data = path.read_bytes()

    path.write_bytes(data[:-20])  # truncated; the sidecar no longer matches
    with pytest.raises(GenolongError, match=r"index\.json\.gz: sha256 .* does not match"):
        HomologyIndex.load(path)
    (tmp_path / "index.json.gz.sha256").unlink()  # without a sidecar the damage is still caught
    with pytest.raises(GenolongError, match=r"index\.json\.gz: not a readable homology index"):
        HomologyIndex.load(path)

    path.write_bytes(gzip.compress(json.dumps({"format": "something else"}).encode()))
    with pytest.raises(GenolongError, match="not a genolong homology index"):
        HomologyIndex.load(path)
    with pytest.raises(GenolongError, match="does not exist"):
        HomologyIndex.load(tmp_path / "missing.json.gz")


def test_scores_are_bitscore_weighted_votes():
    index = HomologyIndex([IndexedProtein("g", "a", "ribosomal protein L2", ("GO:A", "GO:B"), "M"),
                           IndexedProtein("g", "b", "DNA gyrase", ("GO:B",), "M")])
    hits = [[Hit(0, 0.9, 1.0, 30.0, 1e-9), Hit(1, 0.5, 0.8, 10.0, 1e-3)], []]
    np.testing.assert_allclose(term_scores(hits, index, ["GO:A", "GO:B", "GO:C"]), [[0.75, 1.0, 0.0], [0, 0, 0]])
    # a caller's terms_of (e.g. GO propagation) replaces the annotated terms
    propagated = term_scores(hits, index, ["GO:A", "GO:root"], terms_of=lambda p: set(p.terms) | {"GO:root"})
    np.testing.assert_allclose(propagated, [[0.75, 1.0], [0, 0]])
    label = {"a": "ribosomal protein", "b": "enzyme"}
    np.testing.assert_allclose(label_scores(hits, index, ["enzyme", "ribosomal protein"], lambda p: label[p.locus]),
                               [[0.25, 0.75], [0, 0]])
    assert best_hit(hits[0]).target == 0 and best_hit(hits[1]) is None


def test_translate_cds():
    assert translate_cds("GTGTGAAAATAA", 11) == "MXK"  # alternative start -> M, internal stop X, final stop dropped
    assert translate_cds("GTGTGAAAATAA", 4) == "MWK"  # code 4: TGA is tryptophan
    assert translate_cds("ATGANNAAATAG", 11) == "MXK" == translate_cds("ATG-.*AAATAG", 11)
    assert translate_cds("CGTGTGAAAAT", 11, codon_start=2) == "VXK"  # 5'-partial: no M, incomplete codon cut


@pytest.mark.parametrize("name", ["NC_005816.gb", "D10483.gbk"])
def test_proteins_from_genome_match_biopython(data_dir, name):
    n_labelled, translations = 0, []
    for rec in SeqIO.parse(data_dir / name, "genbank"):
        for f in rec.features:
            if f.type == "CDS" and "pseudo" not in f.qualifiers and not UNKNOWN_PRODUCT.search(
                    f.qualifiers.get("product", [""])[0].lower()):
                n_labelled += 1
                try:
                    table = int(f.qualifiers.get("transl_table", ["11"])[0])
                    translations.append(str(f.translate(rec.seq, table=table, cds=True)))
                except TranslationError:  # a partial CDS, which Biopython will not translate cds-style
                    pass
    proteins = proteins_from_genome(data_dir / name)
    assert len(proteins) == n_labelled and len(translations) >= n_labelled - 1
    assert not Counter(translations) - Counter(p.sequence for p in proteins)
    assert {p.genome for p in proteins} == {name.split(".")[0]}


def test_proteins_carry_locus_product_and_terms(default_genome, data_dir):
    plasmid = {p.locus: p for p in proteins_from_genome(data_dir / "NC_005816.gb")}
    assert plasmid["YP_pPCP01"].product == "putative transposase" and plasmid["YP_pPCP01"].terms == ()
    with_go = [p for p in proteins_from_genome(default_genome) if p.terms]
    assert len(with_go) > 300 and all(list(p.terms) == sorted(p.terms) for p in with_go)
    assert all(t.startswith("GO:") for p in with_go for t in p.terms)


def test_proteins_from_genome_keeps_genes_inside_regions(data_dir):
    everything = proteins_from_genome(data_dir / "D10483.gbk")
    inside = proteins_from_genome(data_dir / "D10483.gbk", regions=[("D10483.2", 0, 50_000)], name="left")
    assert 0 < len(inside) < len(everything)
    assert {p.genome for p in inside} == {"left"}
    assert {p.locus for p in inside} < {p.locus for p in everything}


def test_proteins_from_stores_and_cli(data_dir, tmp_path):
    genome = tmp_path / "D10483.gbk"
    shutil.copy(data_dir / "D10483.gbk", genome)
    store = tmp_path / "store"
    assert main(["prepare", "--genome", str(genome), "--labels", "product", "--out", str(store)]) == 0
    train = [(r.seqid, r.start, r.end) for r in TokenStore(store).regions("train")]
    expected = proteins_from_genome(genome, regions=train)
    assert 0 < len(expected) < len(proteins_from_genome(genome))
    assert proteins_from_stores([store]) == expected

    out = tmp_path / "homology.json.gz"
    assert main(["homology", "--store", str(store), "--out", str(out)]) == 0
    assert HomologyIndex.load(out).proteins == expected

    genome.rename(tmp_path / "moved.gbk")
    with pytest.raises(GenolongError, match="missing"):
        proteins_from_stores([store])
