"""Pseudogene fragments: a planted frameshifted copy of a real gene is flagged, its intact copy
is not; the writers emit pseudogenes that GFF3 / GenBank readers read back as such; `evaluate`
counts no pseudogene as a protein-coding call, and its network-free row gets the same pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import gffutils
import numpy as np
import pytest
from Bio import SeqIO

from genolong.annotate import pseudogenes
from genolong.annotate.formats import write_faa, write_gene_gff3, write_genbank
from genolong.annotate.genes import GeneCall
from genolong.annotate.homology import HomologyIndex, proteins_from_genome
from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.errors import GenolongError
from genolong.evaluate import no_network
from genolong.evaluate.evaluation import coding_calls, read_predicted_gff3
from genolong.evaluate.orf_baseline import orf_calls

PLA = (6663, 7602)  # NC_005816 (Yersinia pestis pPCP1): pla, outer membrane protease, + strand, 939 bp
DELETED = 470  # the base deleted from the second copy, inside the gene


@pytest.fixture(scope="module")
def planted(data_dir, tmp_path_factory):
    """A genome of random spacers around an intact copy of pla and a copy with one base deleted;
    the index holds pPCP1's labelled proteins (pla among them); the ORF baseline's calls."""
    root = tmp_path_factory.mktemp("pseudogenes")
    plasmid = str(SeqIO.read(data_dir / "NC_005816.gb", "genbank").seq)
    gene = plasmid[PLA[0]:PLA[1]]
    broken = gene[:DELETED] + gene[DELETED + 1:]
    rng = np.random.default_rng(0)

    def spacer(n=400):
        return "".join(rng.choice(list("ACGT"), n))

    seq = spacer() + gene + spacer() + broken + spacer()
    intact = (400, 400 + len(gene))
    fragment_span = (intact[1] + 400, intact[1] + 400 + len(broken))
    fasta = root / "planted.fa"
    fasta.write_text(f">planted\n{seq}\n")
    index = HomologyIndex(proteins_from_genome(data_dir / "NC_005816.gb"))
    index.save(root / "homology.json.gz")
    calls = orf_calls(seq.encode(), "planted", 11)
    return root, fasta, index, calls, intact, fragment_span


def test_frameshifted_copy_flagged_intact_copy_not(planted):
    _, fasta, index, calls, intact, broken = planted
    inside = [c for c in calls if c.start >= broken[0] and c.end <= broken[1] + 3 and c.strand == "+"]
    whole = [c for c in calls if c.end == intact[1] and c.strand == "+"]  # its longest ORF: the gene's stop
    assert len(inside) == 2 and len(whole) == 1  # the two reading-frame fragments, and the gene itself
    with open_genome(fasta) as genome:
        notes = pseudogenes.flag_calls(genome, calls, 11, index)
    by_call = dict(zip(map(id, calls), notes))
    assert [by_call[id(c)] for c in inside] == ["frameshifted", "frameshifted"]
    assert by_call[id(whole[0])] is None
    assert sum(n is not None for n in notes) == 2  # nothing else in the random spacers
    # switching the neighbour evidence off (no gap allowed) leaves each a partial copy
    with open_genome(fasta) as genome:
        lone = pseudogenes.flag_calls(genome, inside, 11, index, cfg=pseudogenes.PseudogeneConfig(max_gap=-10**6))
    assert lone == ["partial", "partial"]


def test_a_late_start_is_not_a_fragment(planted, tmp_path):
    """The intact gene called from an internal ATG covers part of its homolog, but its own ORF
    reaches the missing N-terminus: a start to fix, not a broken gene. A real N-terminal
    truncation (a stop codon just upstream) is one."""
    from genolong.evaluate.metrics import Interval

    _, fasta, index, calls, intact, _ = planted
    seq = fasta.read_text().split("\n")[1]
    internal = next(i for i in range(intact[0] + 240, intact[1], 3) if seq[i:i + 3] == "ATG")
    late = Interval("planted", internal, intact[1], "+", "protein_coding")
    with open_genome(fasta) as genome:
        assert pseudogenes.upstream_codons(genome, late, 11) >= (internal - intact[0]) // 3
        assert pseudogenes.flag_calls(genome, [late], 11, index) == [None]
    stopped = tmp_path / "stopped.fa"  # the same bases with a stop codon right before that ATG
    stopped.write_text(f">planted\n{seq[:internal - 3]}TAA{seq[internal:]}\n")
    with open_genome(stopped) as genome:
        assert pseudogenes.upstream_codons(genome, late, 11) == 0
        assert pseudogenes.flag_calls(genome, [late], 11, index) == ["partial"]
    # the minus strand reads its upstream codons from the other side
    rc = tmp_path / "rc.fa"
    from Bio.Seq import reverse_complement

    rc.write_text(f">planted\n{reverse_complement(seq)}\n")
    minus = Interval("planted", len(seq) - late.end, len(seq) - late.start, "-", "protein_coding")
    with open_genome(fasta) as genome, open_genome(rc) as flipped:
        assert pseudogenes.upstream_codons(flipped, minus, 11) == pseudogenes.upstream_codons(genome, late, 11)


def _call(start, end, biotype, note=None):
    return GeneCall("planted", start, end, "+", f"g{start}", f"g{start}", biotype, "hypothetical protein", 0.9,
                    np.zeros(1, dtype=np.float32), parts=((start, end, "+"),), gene_score=1.0, note=note)


def test_writers_emit_readable_pseudogenes(planted, tmp_path):
    _, fasta, index, calls, intact, broken = planted
    fragments = [c for c in calls if c.start >= broken[0] and c.end <= broken[1] + 3]
    genes = [_call(*intact, "protein_coding")] + [_call(c.start, c.end, "pseudogene", "frameshifted")
                                                     for c in fragments]
    labels = {"scheme": "product", "kind": "single", "classes": ["intergenic", "other"]}
    lengths = {"planted": len(fasta.read_text().split("\n")[1])}
    gff3, gbk, faa = tmp_path / "p.gff3", tmp_path / "p.gbk", tmp_path / "p.faa"
    write_gene_gff3(gff3, genes, lengths, "single", labels, 11)
    with open_genome(fasta) as genome:
        write_genbank(gbk, genome, lengths, genes, "single", labels, 11)
        write_faa(faa, genome, genes, 11)
    db = gffutils.create_db(str(gff3), ":memory:")
    pseudo = list(db.features_of_type("pseudogene"))
    assert len(pseudo) == 2 and all(p.attributes["pseudo"] == ["true"] for p in pseudo)
    children = [list(db.children(p)) for p in pseudo]
    assert all(len(c) == 1 and c[0].featuretype == "pseudogenic_CDS" and c[0].attributes["Note"] == ["frameshifted"]
               for c in children)
    assert [g.biotype for g in read_annotation(gff3)] == ["protein_coding", "pseudogene", "pseudogene"]
    # evaluate counts the gene, not the fragments
    assert [(c.start, c.biotype) for c in coding_calls(read_predicted_gff3(gff3, "single"))] == \
        [(intact[0], "protein_coding")]
    record = SeqIO.read(gbk, "genbank")
    cds = [f for f in record.features if f.type == "CDS"]
    assert [("pseudo" in f.qualifiers, "translation" in f.qualifiers) for f in cds] == \
        [(False, True), (True, False), (True, False)]
    assert [f.qualifiers.get("note") for f in cds[1:]] == [["frameshifted"], ["frameshifted"]]
    assert all("pseudo" in f.qualifiers for f in record.features if f.type == "gene" and f.location.start > intact[1])
    assert [g.biotype for g in read_annotation(gbk)] == ["protein_coding", "pseudogene", "pseudogene"]
    assert [r.id for r in SeqIO.parse(faa, "fasta")] == [f"g{intact[0]}"]  # no protein for a pseudogene
    if shutil.which("gt") is not None or os.environ.get("CI"):
        run = subprocess.run(["gt", "gff3validator", "-typecheck", "so", str(gff3)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_network_free_row_gets_the_runs_pass(planted, tmp_path):
    root, fasta, index, calls, intact, broken = planted
    prefix = tmp_path / "run"
    with open_genome(fasta) as genome:
        # a run without a pass: the row is left as it is
        assert no_network.pseudogene_pass(genome, calls, 11, prefix)[0] == calls
        rec = pseudogenes.record(index, root / "homology.json.gz")
        np.savez(f"{prefix}.function.npz", meta=np.array(json.dumps({"format": 1, "pseudogenes": rec})))
        out, rule = no_network.pseudogene_pass(genome, calls, 11, prefix)
        assert [c.biotype for c in out].count("pseudogene") == 2 and "2 of" in rule
        assert len(coding_calls(out)) == len(calls) - 2
        # an index replaced since the run is refused in one line
        np.savez(f"{prefix}.function.npz",
                 meta=np.array(json.dumps({"format": 1, "pseudogenes": {**rec, "sha256": "0" * 64}})))
        with pytest.raises(GenolongError) as err:
            no_network.pseudogene_pass(genome, calls, 11, prefix)
        assert "sha256" in str(err.value) and "\n" not in str(err.value)
        # so is a record this genolong cannot read (a threshold it does not know)
        np.savez(f"{prefix}.function.npz", meta=np.array(json.dumps(
            {"format": 1, "pseudogenes": {**rec, "config": {"min_identity": 0.9, "from_the_future": 1}}})))
        with pytest.raises(GenolongError) as err:
            no_network.pseudogene_pass(genome, calls, 11, prefix)
        assert "pseudogene pass record" in str(err.value) and "\n" not in str(err.value)
