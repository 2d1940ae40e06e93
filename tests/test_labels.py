"""Label schemes on real genomes, and per-token targets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from genolong.data.annotation import Gene, read_annotation
from genolong.errors import GenolongError
from genolong.data.labels import UNKNOWN, LabelVocab, build_labels, fill_targets, go_terms, split_strand
from genolong.data.tokenizer import KmerTokenizer


def test_go_counts_match_the_file(default_genome):
    genes = read_annotation(default_genome)
    with_go = [g for g in genes if go_terms(g)]
    assert len(with_go) == 389  # data README
    assert len({t for g in with_go for t in go_terms(g)}) == 373
    lab = build_labels(genes, "go")
    v = lab.vocab
    assert v.kind == "multilabel" and v.classes[0] == "genic" and v.n_outputs == 21
    counts = Counter(t for g in with_go for t in go_terms(g))
    assert counts["GO:0006412"] == 57 and counts["GO:0016020"] == 55 and counts["GO:0003735"] == 52
    assert {"GO:0006412", "GO:0016020", "GO:0003735", "GO:0005737", "GO:0005524"} <= set(v.classes)
    assert v.descriptions["GO:0005524"] == "ATP binding"
    assert v.descriptions["GO:0006412"] == "translation"
    assert len(lab.by_gene) == 389  # every gene with GO is known; the rest are unknown
    assert len(build_labels(genes, "go", top_terms=5).vocab.classes) == 6
    assert LabelVocab.from_dict(v.to_dict()) == v


def test_go_from_ncbi_gff3_matches_genbank(data_dir):
    gff = read_annotation(data_dir / "mycoides_Afade.gff3.gz")
    gbk = read_annotation(data_dir / "mycoides_Afade.gbff.gz")
    assert {g.gene_id: set(go_terms(g)) for g in gff} == {g.gene_id: set(go_terms(g)) for g in gbk}
    assert sum(1 for g in gff if go_terms(g)) > 300


def test_several_go_terms_in_one_qualifier():
    g = Gene("s", 0, 10, "+", "g1", "", "protein_coding", ((0, 10, "+"),),
             {"db_xref": ["GO:0000001, GO:0000002"], "GO_function": ["GO:0000003 - a thing [Evidence IEA]; GO:0000004 - other"]})
    assert go_terms(g) == {"GO:0000001": "", "GO:0000002": "", "GO:0000003": "a thing", "GO:0000004": "other"}


def test_chloroplast_pattern_labels(data_dir):
    genes = read_annotation(data_dir / "NC_000932.gb")
    lab = build_labels(genes, f"pattern:{data_dir / 'chloroplast_gene_functions.tsv'}")
    assert lab.vocab.kind == "single" and lab.vocab.classes[0] == "intergenic"
    assert len(lab.by_gene) == 129  # every gene gets a class
    by_name = {g.name: lab.by_gene[g.gene_id][0] for g in genes if g.name}
    assert by_name["rps12"] == "ribosomal_protein" and by_name["psbA"] == "photosystem_II"
    assert by_name["trnH"] == "trna" and by_name["rbcL"] == "rubisco"
    unnamed = {lab.by_gene[g.gene_id][0] for g in genes if not g.name}
    # fallback to the biotype, folded onto the table's own class of the same name
    assert unnamed == {"trna", "rrna"}
    assert "tRNA" not in lab.vocab.classes and "rRNA" not in lab.vocab.classes


def test_single_label_targets_follow_parts_not_span(data_dir):
    genes = read_annotation(data_dir / "NC_000932.gb")
    lab = build_labels(genes, "biotype")
    tok = KmerTokenizer(6, 1)
    out = np.empty(tok.n_tokens(154_478), dtype=np.uint8)
    fill_targets(out, genes, lab, tok)
    cls = lab.vocab.classes.index("protein_coding")
    rps12 = next(g for g in genes if g.name == "rps12" and g.strand == ".")
    for s, e, _ in rps12.parts:
        assert (out[s - 3 : e - 3] == cls).all()  # token i's centre is i + 3
    gap = (rps12.parts[0][1] + 100, rps12.parts[1][0] - 100)
    assert (out[gap[0] : gap[1]] != cls).any()  # the 70 kbp between parts is not all one gene


def test_overlap_rule_and_unknown():
    tok = KmerTokenizer(2, 1)
    a = Gene("s", 0, 20, "+", "a", "x", "protein_coding", ((0, 20, "+"),), {"GO_function": ["GO:0000001 - t1"]})
    b = Gene("s", 10, 30, "+", "b", "y", "tRNA", ((10, 30, "+"),), {})
    single = build_labels([a, b], "biotype")
    out = np.empty(tok.n_tokens(40), dtype=np.uint8)
    fill_targets(out, [a, b], single, tok)
    pc, tr = single.vocab.classes.index("protein_coding"), single.vocab.classes.index("tRNA")
    assert out[0] == pc and out[9] == tr and out[15] == tr and out[35] == 0  # later start wins
    multi = build_labels([a, b], "go")
    out = np.empty((tok.n_tokens(40), 2), dtype=np.uint8)
    fill_targets(out, [a, b], multi, tok)
    assert out[0].tolist() == [1, 1]           # a: known, has the term
    assert out[15].tolist() == [1, 1]          # a and b: positive from a wins
    assert out[25].tolist() == [1, UNKNOWN]    # b only: genic, function unknown
    assert out[35].tolist() == [0, 0]          # intergenic: negative
    attr = build_labels([a, b], "attribute:GO_function")
    out = np.empty(tok.n_tokens(40), dtype=np.uint8)
    fill_targets(out, [a, b], attr, tok)
    assert out[25] == UNKNOWN and out[0] == 1


def test_tsv_scheme(tmp_path, data_dir):
    genes = read_annotation(data_dir / "NC_005816.gb")
    p = tmp_path / "labels.tsv"
    p.write_text("gene_id\tlabel\n" + f"{genes[0].gene_id}\tx;y\n{genes[1].gene_id}\tz\n")
    lab = build_labels(genes, f"tsv:{p}")
    assert lab.vocab.kind == "multilabel" and lab.vocab.classes == ["genic", "x", "y", "z"]
    p.write_text(f"{genes[0].gene_id}\tx\n")
    assert build_labels(genes, f"tsv:{p}").vocab.classes == ["intergenic", "x"]


def test_unknown_and_empty_schemes(default_genome):
    genes = read_annotation(default_genome)
    with pytest.raises(GenolongError, match="unknown label scheme 'cog'"):
        build_labels(genes, "cog")
    with pytest.raises(GenolongError, match="labels none of the 900 genes"):
        build_labels(genes, "attribute:no_such_key")


@pytest.mark.parametrize("plus,minus", [("CDS:+", "CDS:-"), ("CDS[+]", "CDS[-]"), ("tRNA(+)", "tRNA(-)"),
                                        ("rRNA_+", "rRNA_-"), ("photosystem (+)", "photosystem (-)")])
def test_every_strand_spelling_is_one_stranded_pair(plus, minus):
    vocab = LabelVocab("t", "single", ["intergenic", plus, minus, "ncRNA"])
    assert split_strand(plus)[1] == "+" and split_strand(minus)[1] == "-"
    assert split_strand(plus)[0] == split_strand(minus)[0]
    assert list(vocab.strand_swap()) == [0, 2, 1, 3]


def test_unstranded_names_have_no_strand():
    for name in ("intergenic", "CDS", "GO:0005524", "genic", "-", "+"):
        assert split_strand(name)[1] == "."
    assert LabelVocab("go", "multilabel", ["genic", "GO:0005524"]).strand_swap() is None
    # a strand without its twin is not a stranded pair
    assert LabelVocab("t", "single", ["intergenic", "CDS:+", "tRNA"]).strand_swap() is None
