"""ORF finding against a brute-force scan and Biopython's translation, and the ORF baseline."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from Bio.Data import CodonTable
from Bio.Seq import Seq

from genolong.annotate.orfs import OverlapSet, find_orfs, genetic_code, greedy_select
from genolong.errors import GenolongError
from genolong.evaluate.orf_baseline import orf_calls


def brute_force(seq: str, table: int, starts: str) -> set[tuple[int, int, int]]:
    """(start, end, strand) of every ORF, codon by codon in Python."""
    t = CodonTable.unambiguous_dna_by_id[table]
    start_set = {c for c in t.start_codons if starts == "table" or c in ("ATG", "GTG", "TTG")}
    n = len(seq)
    out = set()
    for sign, s in ((1, seq), (-1, str(Seq(seq).reverse_complement()))):
        for i in range(n - 2):
            if s[i : i + 3] not in start_set:
                continue
            for j in range(i, n - 2, 3):
                if s[j : j + 3] in t.stop_codons:
                    a, b = i, j + 3
                    out.add((a, b, 1) if sign > 0 else (n - b, n - a, -1))
                    break
    return out


@pytest.mark.parametrize("table,starts", [(11, "common"), (11, "table"), (4, "common"), (4, "table")])
def test_find_orfs_matches_brute_force(table, starts):
    rng = np.random.default_rng(table)
    seq = "".join(rng.choice(list("ACGT"), size=1500))
    seq = seq[:700] + "NNN" + seq[703:]  # a non-ACGT base is never part of a codon
    orfs = find_orfs(seq.encode(), table, starts=starts)
    got = {(int(a), int(b), int(s)) for a, b, s in zip(orfs.start, orfs.end, orfs.strand)}
    assert got == brute_force(seq, table, starts)
    assert len(got) > 50


def test_every_orf_translates_as_a_cds():
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), size=3000))
    for table in (4, 11):
        orfs = find_orfs(seq.encode(), table, min_length=60)
        assert len(orfs) > 5
        for a, b, s in zip(orfs.start, orfs.end, orfs.strand):
            piece = Seq(seq[a:b]) if s > 0 else Seq(seq[a:b]).reverse_complement()
            protein = piece.translate(table=table, cds=True)  # raises unless start..stop, no internal stop
            assert len(protein) == (b - a) // 3 - 1


def test_longest_only_keeps_the_most_upstream_start_per_stop():
    # ATG ... ATG ... TAA on the plus strand: one stop, two starts
    seq = "CC" + "ATG" + "GCA" * 5 + "ATG" + "GCA" * 5 + "TAA" + "CC"
    orfs = find_orfs(seq.encode(), 11)
    plus = orfs.take(orfs.strand > 0)
    assert sorted(zip(plus.start.tolist(), plus.end.tolist())) == [(2, 41), (20, 41)]
    assert len(set(plus.stop_id.tolist())) == 1
    longest = find_orfs(seq.encode(), 11, longest_only=True)
    assert [(int(a), int(b)) for a, b, s in zip(longest.start, longest.end, longest.strand) if s > 0] == [(2, 41)]


def test_minus_strand_coordinates():
    gene = "ATG" + "GCA" * 10 + "TGA"
    seq = "TTTT" + str(Seq(gene).reverse_complement()) + "TTTT"
    orfs = find_orfs(seq.encode(), 11, longest_only=True)
    minus = [(int(a), int(b)) for a, b, s in zip(orfs.start, orfs.end, orfs.strand) if s < 0 and b - a == len(gene)]
    assert minus == [(4, 4 + len(gene))]
    # table 4 reads TGA as Trp: the same ORF has no stop there
    t4 = find_orfs(seq.encode(), 4)
    assert not np.any((t4.strand < 0) & (t4.end == 4 + len(gene)))


def test_bad_table_is_a_genolong_error():
    with pytest.raises(GenolongError, match="translation table 99"):
        genetic_code(99)
    assert genetic_code(4).stops.sum() == 2 and genetic_code(11).stops.sum() == 3


def test_greedy_select_drops_heavy_overlaps():
    start = np.array([0, 900, 950, 2000, 100])
    end = np.array([1000, 1500, 1300, 2300, 400])
    keep = greedy_select(start, end, end - start, max_overlap=60)
    # [0,1000) first; [900,1500) overlaps it by 100 -> dropped; [950,1300) by 50 -> kept;
    # [2000,2300) free; [100,400) inside [0,1000) -> dropped
    assert keep.tolist() == [0, 2, 3]
    acc = OverlapSet(60)
    assert acc.add(10, 20) and acc.overlap(15, 30) == 5


def test_orf_baseline_on_afade_contig(data_dir):
    """The baseline's calls are long, lightly overlapping, and mostly real genes."""
    from genolong.data.annotation import read_annotation
    from genolong.evaluate.metrics import Interval, segment_metrics

    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rt") as fh:
        header, *lines = fh.read().split(">")[1].split("\n")
    seqid, seq = header.split()[0], "".join(lines).encode()
    calls = orf_calls(seq, seqid, 4)
    assert all(c.end - c.start >= 300 for c in calls)
    ref = [Interval(g.seqid, g.start, g.end, g.strand) for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz")
           if g.seqid == seqid and g.biotype == "protein_coding"]
    f1 = segment_metrics(calls, ref)["overall"]["f1"]
    assert f1 > 0.75  # measured 0.85 on the whole genome; a broken frame or strand gives ~0
