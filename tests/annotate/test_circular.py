"""Genes across the origin of circular records (issue 21): called whole, written as RefSeq writes
them, read back by Biopython, gffutils and GenomeTools, and scored as matches by evaluate.

The Yersinia pestis plasmid pPCP1 (NC_005816, 9,609 bp, circular) is rotated twice so that a
plus-strand gene (YP_pPCP01, 87..1109) and a minus-strand gene (YP_pPCP06, complement(4815..5888))
cross the origin, written as RefSeq writes such genes (`join(9096..9609,1..509)`). A real two-head
network runs over the rotated plasmids; its structure columns are the reference's (smoothed), as
in test_gene_outputs.py, painted on the sequence annotate reads, so the decoder has real genes to
call. Read as linear, the same plasmids lose both genes: the origin cuts them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from Bio import SeqIO
from Bio.SeqFeature import CompoundLocation, FeatureLocation, SeqFeature
from Bio.SeqRecord import SeqRecord

from genolong.annotate.spill import SpillArray
from genolong.cli import main
from genolong.data.annotation import read_annotation, read_annotation_topology
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.errors import GenolongError
from tests.annotate.helpers import BIOTYPE, STRUCTURE, OracleAnnotator, soft_probs, structure_targets, two_head_net

LENGTH = 9609
CUTS = {"pPCP1_r600": 600, "pPCP1_r5300": 5300}  # new origins (0-based): inside YP_pPCP01 / YP_pPCP06
CROSSING = {("pPCP1_r600", 9095, 10118, "+"), ("pPCP1_r5300", 9123, 10197, "-")}


def rotated(record: SeqRecord, cut: int, name: str) -> SeqRecord:
    """`record` with its origin moved to `cut`; a gene the new origin cuts becomes a join."""
    new = SeqRecord(record.seq[cut:] + record.seq[:cut], id=name, name=name, description=f"{record.id} from {cut + 1}",
                    annotations={"molecule_type": "DNA", "topology": "circular"})
    for f in record.features:
        if f.type not in ("gene", "CDS"):
            continue
        start = (int(f.location.start) - cut) % len(record)
        end, strand = start + len(f.location), f.location.strand
        loc = FeatureLocation(start, end, strand)
        if end > len(record):
            pieces = [FeatureLocation(start, len(record), strand), FeatureLocation(0, end - len(record), strand)]
            loc = CompoundLocation(pieces if strand > 0 else pieces[::-1])
        new.features.append(SeqFeature(loc, type=f.type, qualifiers=dict(f.qualifiers)))
    return new


class CircularOracle(OracleAnnotator):
    """The reference's structure painted on the sequence annotate reads: a circular record's
    extended sequence holds each gene up to three times (before, in and after the record's copy)."""

    def _record(self, genome, seqid, length, bar, task, spill_file=None):
        real = super(OracleAnnotator, self)._record(genome, seqid, length, bar, task, spill_file)
        m = genome.margins.get(seqid, 0)
        turns = (-LENGTH, 0, LENGTH) if m else (0,)
        genes = [(g.start + m + t, g.end + m + t, g.strand, g.biotype) for g in self.reference if g.seqid == seqid
                 for t in turns]
        oracle = soft_probs(structure_targets(genes, real.n_rows, self.tokenizer.k, self.tokenizer.stride),
                            len(STRUCTURE))
        out = SpillArray(real.n_cols)
        out.append(np.concatenate([real[:, : self.n_function], oracle], axis=1))
        return out


@pytest.fixture(scope="module")
def plasmids(data_dir, tmp_path_factory):
    """(folder, rotated GenBank, the same as FASTA, the original record)."""
    root = tmp_path_factory.mktemp("circular")
    original = SeqIO.read(data_dir / "NC_005816.gb", "genbank")
    records = [rotated(original, cut, name) for name, cut in CUTS.items()]
    gbk, fasta = root / "rotated.gbk", root / "rotated.fa"
    SeqIO.write(records, gbk, "genbank")
    fasta.write_text("".join(f">{r.id}\n{r.seq}\n" for r in records))
    return root, gbk, fasta, original


def annotate(plasmids, genome, reference=None, circular=None, **kwargs):
    root, gbk, _, _ = plasmids
    ann = CircularOracle(read_annotation(gbk), two_head_net(len(BIOTYPE.classes)), KmerTokenizer(6), BIOTYPE,
                         window=256, progress=False, structure_labels=LabelVocab("structure", "single", STRUCTURE),
                         transl_table=11, rna="off", **kwargs)
    return ann.annotate(genome, reference=reference, circular=circular)


@pytest.fixture(scope="module")
def circular_run(plasmids):
    """The FASTA with `--circular all` and the GenBank as `--annotation`: (result, output paths)."""
    root, gbk, fasta, _ = plasmids
    result = annotate(plasmids, fasta, gbk, ["all"])
    return result, result.write(root / "circular")


def coding(genes) -> set:
    return {(g.seqid, g.start, g.end, g.strand) for g in genes if g.biotype == "protein_coding"}


def test_joins_across_the_origin_read_as_one_span(plasmids):
    _, gbk, _, _ = plasmids
    genes, circular = read_annotation_topology(gbk)
    assert circular == set(CUTS)
    crossing = [g for g in genes if g.end > LENGTH]
    assert {(g.seqid, g.start, g.end, g.strand) for g in crossing if g.biotype == "protein_coding"} == CROSSING
    assert all(len(g.parts) == 1 for g in crossing)


def test_prepare_paints_both_ends_of_a_gene_across_the_origin(plasmids):
    from genolong.data.store import TokenStore
    from genolong.data.structure import STRUCTURE_CLASSES

    root, gbk, _, _ = plasmids
    assert main(["prepare", "--genome", str(gbk), "--labels", "biotype", "--split", "contiguous:val=0.2;test=0.1;gap=100",
                 "--allow-leak",  # the two records are one plasmid
                 "--out", str(root / "store")]) == 0
    store = TokenStore(root / "store")
    # YP_pPCP01 runs 9096..9609,1..509 on pPCP1_r600: coding at both ends, codon positions counted on
    first = [STRUCTURE_CLASSES[c] for c in store.structure("pPCP1_r600")[:3]]
    # token 0's centre (base 3) is the gene's base 9609 - 9095 + 3 = 517: codon position 517 % 3 = 1
    assert first == ["CDS1(+)", "CDS1(+)", "CDS1(+)"]
    assert STRUCTURE_CLASSES[store.structure("pPCP1_r600")[-1]].startswith("CDS")


def test_gene_across_the_origin_is_called_whole(plasmids, circular_run):
    result, _ = circular_run
    reference = read_annotation(plasmids[1])
    assert coding(result.predicted) == coding(reference) >= CROSSING
    # genes.tsv (the reference pooled with --annotation) gives the crossing genes their real span
    assert {(g.seqid, g.start, g.end, g.strand) for g in result.genes if g.end > LENGTH} >= CROSSING


def test_genbank_topology_alone_makes_a_record_circular(plasmids):
    result = annotate(plasmids, plasmids[1])  # the GenBank as the genome: its LOCUS lines say circular
    assert result.circular == set(CUTS) and coding(result.predicted) >= CROSSING


def test_linear_records_never_wrap(plasmids):
    result = annotate(plasmids, plasmids[2])  # FASTA, no --circular, no annotation: linear
    assert result.circular == frozenset()
    assert all(g.end <= LENGTH for g in result.predicted)
    assert not coding(result.predicted) & CROSSING  # the origin cuts them: what a linear reading can do


def test_away_from_the_origin_a_circular_record_reads_as_a_linear_one(plasmids):
    """The copied margin is a whole number of window steps, so the network's windows over the
    record are those of the record read alone: the probabilities agree but near the origin."""
    from genolong.annotate.orf_decode import DecodeConfig

    step_bp = (256 - 64) * 6  # window 256 tokens, overlap 64 (window / 4), stride 6
    decode = DecodeConfig(margin_bp=2 * step_bp - 100)  # rounded up to 2 steps
    ring = annotate(plasmids, plasmids[2], circular=["all"], decode=decode)
    line = annotate(plasmids, plasmids[2], decode=decode)
    for seqid in CUTS:
        a, b = np.asarray(ring.probs[seqid]), np.asarray(line.probs[seqid])
        assert a.shape == b.shape
        inner = slice(256, a.shape[0] - 256)  # a window from either end
        assert np.allclose(a[inner], b[inner], atol=1e-5)
        assert not np.allclose(a[:64], b[:64], atol=1e-5)  # at the origin the ring sees across it


def test_outputs_as_refseq_writes_them(plasmids, circular_run):
    import gffutils

    _, paths = circular_run
    original = plasmids[3]
    truth = {f.qualifiers["locus_tag"][0]: f.qualifiers["translation"][0] for f in original.features if f.type == "CDS"}
    records = {r.id: r for r in SeqIO.parse(paths["gbk"], "genbank")}
    proteins = {r.id: str(r.seq) for r in SeqIO.parse(paths["faa"], "fasta")}
    joins = {}
    for seqid, record in records.items():
        assert record.annotations["topology"] == "circular"
        for feat in record.features:
            if feat.type == "CDS" and len(feat.location.parts) == 2:
                joins[seqid] = feat
                assert feat.qualifiers["translation"][0] == str(feat.extract(record.seq).translate(table=11, cds=True))
                assert proteins[feat.qualifiers["locus_tag"][0]] == feat.qualifiers["translation"][0]
    assert [(int(p.start), int(p.end)) for p in joins["pPCP1_r600"].location.parts] == [(9095, LENGTH), (0, 509)]
    assert [(int(p.start), int(p.end)) for p in joins["pPCP1_r5300"].location.parts] == [(0, 588), (9123, LENGTH)]
    # the proteins across the origin are RefSeq's own
    assert joins["pPCP1_r600"].qualifiers["translation"][0] == truth["YP_pPCP01"]
    assert joins["pPCP1_r5300"].qualifiers["translation"][0] == truth["YP_pPCP06"]

    db = gffutils.create_db(str(paths["gff3"]), ":memory:", merge_strategy="error")
    regions = list(db.features_of_type("region"))
    assert {(r.seqid, r.end, r.attributes["Is_circular"][0]) for r in regions} == {(s, LENGTH, "true") for s in CUTS}
    spans = {(g.seqid, g.start - 1, g.end, g.strand) for g in db.features_of_type("CDS")}
    assert spans >= CROSSING
    bed = [line.split("\t") for line in paths["bed"].read_text().splitlines()[1:]]
    across = [(c[0], int(c[1]), int(c[2])) for c in bed if c[0] == "pPCP1_r600" and (c[1] == "9095" or c[1] == "0")]
    assert across == [("pPCP1_r600", 9095, LENGTH), ("pPCP1_r600", 0, 509)]  # two lines, one each side
    if shutil.which("gt") is None and not os.environ.get("CI"):
        pytest.skip("GenomeTools (`gt`) is not installed; CI installs it")
    run = subprocess.run(["gt", "gff3validator", "-typecheck", "so", str(paths["gff3"])], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_evaluate_matches_genes_across_the_origin(plasmids, circular_run, tmp_path):
    _, gbk, _, _ = plasmids
    prefix = str(circular_run[1]["gff3"]).removesuffix(".gff3")
    reference_gff3 = tmp_path / "reference.gff3"  # a GFF3 reference: ends past the length, Is_circular
    shutil.copy(circular_run[1]["gff3"], reference_gff3)
    for reference in (gbk, reference_gff3):
        out = tmp_path / reference.suffix[1:]
        assert main(["evaluate", "--pred", prefix, "--reference", str(reference), "--out", str(out), "--no-plots"]) == 0
        scores = json.loads((out / "metrics.json").read_text())["model"]["protein_coding"]
        assert (scores["n_ref"], scores["n_matched"], scores["f1"], scores["exact_start"]) == (20, 20, 1.0, 1.0)


def test_gff3_across_the_origin_in_both_forms(tmp_path, plasmids):
    """NCBI writes one row ending past the length; rows split at the origin are read as the same gene."""
    region = "c\tx\tregion\t1\t1000\t.\t+\t.\tID=c;Is_circular=true\n"
    rows = ("c\tx\tgene\t901\t1100\t.\t+\t.\tID=g1\nc\tx\tCDS\t901\t1000\t.\t+\t0\tID=c1;Parent=g1\n"
            "c\tx\tCDS\t1\t100\t.\t+\t2\tID=c1;Parent=g1\n"
            "c\tx\tgene\t951\t1050\t.\t-\t.\tID=g2\nc\tx\tCDS\t951\t1050\t.\t-\t0\tID=c2;Parent=g2\n")
    circular = tmp_path / "circular.gff3"
    circular.write_text("##gff-version 3\n##sequence-region c 1 1000\n" + region + rows)
    genes, marks = read_annotation_topology(circular)
    assert marks == {"c"}
    assert [(g.gene_id, g.start, g.end, g.parts) for g in genes] == [
        ("g1", 900, 1100, ((900, 1100, "+"),)), ("g2", 950, 1050, ((950, 1050, "-"),))]
    linear = tmp_path / "linear.gff3"
    linear.write_text("##gff-version 3\n" + rows)
    from genolong.data.annotation import check_ends

    with pytest.raises(GenolongError, match="past the end of record c .*needs the record marked circular"):
        check_ends(read_annotation(linear), {"c": 1000}, linear)


def test_painting_continues_across_the_origin():
    """prepare and evaluate paint a gene across the origin at both ends, codon positions counted on."""
    from genolong.data.annotation import Gene
    from genolong.data.labels import GeneLabels, fill_targets
    from genolong.data.structure import fill_structure

    tok = KmerTokenizer(6)
    length = 600
    genes = [Gene("c", 540, 663, "+", "a", "", "protein_coding", ((540, 663, "+"),)),
             Gene("c", 300, 651, "-", "b", "", "protein_coding", ((300, 651, "-"),))]
    n, doubled = tok.n_tokens(length), tok.n_tokens(2 * length)
    for gene in genes:
        ring = fill_structure(np.zeros(n, np.uint8), [gene], tok, length)
        line = fill_structure(np.zeros(doubled, np.uint8), [gene], tok)  # the record twice: no origin to cross
        turn = length // tok.stride
        assert np.array_equal(ring, np.maximum(line[:n], line[turn : turn + n]))
        assert ring[0] > 0  # the part after the origin is painted
    labels = GeneLabels(BIOTYPE, {"a": ["protein_coding"]})
    targets = fill_targets(np.zeros(n, np.uint8), genes[:1], labels, tok, length)
    assert targets[:10].tolist() == [1] * 10 and targets[-10:].tolist() == [1] * 10


def test_matching_goes_round_the_circle():
    from genolong.evaluate.metrics import Interval, coding_metrics, on_circles

    ref = on_circles([Interval("c", 9500, 10100, "+")], {"c": 9609})
    fragment = [Interval("c", 0, 491, "+")]  # the same gene's part after the origin, its stop right
    scores = coding_metrics(fragment, ref)
    assert (scores["n_matched"], scores["exact_stop"], scores["exact_start"]) == (1, 1.0, 0.0)
    assert coding_metrics(fragment, [Interval("c", 9500, 10100, "+")])["n_matched"] == 0  # not known circular


def test_circle_reads_round_the_origin_and_keeps_each_gene_once(tmp_path):
    from genolong.annotate.circular import Circle
    from genolong.annotate.orf_decode import GeneModel
    from genolong.data.genome import open_genome

    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 1000))
    (tmp_path / "c.fa").write_text(f">c\n{seq}\n>l\n{seq}\n")
    with open_genome(tmp_path / "c.fa") as genome:
        circle = Circle(genome, ["c", "l"], ["c"], 300, KmerTokenizer(6))
        assert circle.lengths == {"c": 1600, "l": 1000}
        assert circle.fetch("c").decode() == seq[-300:] + seq + seq[:300] and circle.fetch("l").decode() == seq
        crossing = GeneModel("c", 1200, 1450, "+", "protein_coding", 1.0)  # the record's 900..1150: across the origin
        start = GeneModel("c", 310, 400, "+", "protein_coding", 0.5)  # shares 90 bp with it, scores less
        trna = GeneModel("c", 500, 580, "+", "tRNA", 0.9)
        before, after = GeneModel("c", 100, 250, "-", "protein_coding", 2.0), GeneModel("c", 1350, 1500, "+", "protein_coding", 2.0)
        models = {"c": [before, start, trna, crossing, after], "l": [before]}
        assert circle.select(models, 60) == {"c": [trna, crossing], "l": [before]}
        stronger = GeneModel("c", 310, 400, "+", "protein_coding", 5.0)  # 450 in total: the crossing gene goes
        assert circle.select({"c": [stronger, crossing]}, 60) == {"c": [stronger]}
        assert circle.select({"c": [start, crossing]}, 100) == {"c": [start, crossing]}  # 90 bp is allowed
