"""Structure targets, the genetic code, the `product` scheme and shared vocabularies in `prepare`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqFeature import CompoundLocation, FeatureLocation, SeqFeature
from Bio.SeqRecord import SeqRecord
from Bio import SeqIO

from genolong.cli import main
from genolong.data.annotation import Gene, read_annotation
from genolong.data.labels import UNKNOWN, product_class
from genolong.data.prepare import prepare
from genolong.data.store import TokenStore
from genolong.data.structure import STRUCTURE_CLASSES, fill_structure, structure_vocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.errors import GenolongError


TINY_SPLIT = "contiguous:val=0.2;test=0.1;gap=0"


def per_base_classes(length: int, genes: list[Gene]) -> np.ndarray:
    """The structure class of every base, written out base by base (the reference)."""
    names = np.array([STRUCTURE_CLASSES[0]] * length, dtype=object)
    for g in sorted(genes, key=lambda g: g.start):
        if g.biotype == "protein_coding":
            coding = [b for s, e, _ in sorted(g.parts) for b in range(s, e)]
            if g.strand == "-":
                coding = coding[::-1]
            shift = int(g.attributes.get("codon_start", ["1"])[0]) - 1
            for i, b in enumerate(coding):
                names[b] = f"CDS{(i - shift) % 3}({g.strand})"
        elif g.biotype in ("tRNA", "rRNA"):
            for s, e, _ in g.parts:
                names[s:e] = f"{g.biotype}({g.strand})"
        elif g.biotype != "pseudogene":
            for s, e, _ in g.parts:
                names[s:e] = f"ncRNA({g.strand})"
    return names


def gene(start, end, strand, biotype="protein_coding", parts=None, **attrs):
    parts = parts or ((start, end, strand),)
    return Gene("r", start, end, strand, f"g{start}", "", biotype, tuple(parts),
                {k: [v] for k, v in attrs.items()})


@pytest.mark.parametrize("k,stride", [(3, 3), (6, 6), (4, 1), (5, 2)])
def test_structure_matches_per_base_reference(k, stride):
    genes = [
        gene(10, 70, "+"),
        gene(75, 160, "-"),
        gene(200, 260, "+", parts=((200, 220, "+"), (240, 260, "+"))),  # two-part CDS
        gene(300, 330, "-", parts=((300, 310, "-"), (320, 330, "-"))),
        gene(340, 400, "+", codon_start="2"),  # 5'-partial
        gene(410, 480, "-", biotype="tRNA"),
        gene(490, 560, "+", biotype="rRNA"),
        gene(570, 600, "+", biotype="tmRNA"),
        gene(610, 640, "+", biotype="pseudogene"),
        gene(620, 700, "-"),  # overlaps the pseudogene and starts later: it wins
    ]
    tok = KmerTokenizer(k, stride)
    n = tok.n_tokens(720)
    out = fill_structure(np.full(n, 99, dtype=np.uint8), genes, tok)
    reference = per_base_classes(720, genes)
    centres = np.arange(n) * stride + k // 2
    assert [STRUCTURE_CLASSES[i] for i in out] == list(reference[centres])
    seen = set(reference[centres])
    assert {"tRNA(-)", "rRNA(+)", "ncRNA(+)"} <= seen
    assert any(c.endswith("(+)") and c.startswith("CDS") for c in seen)
    assert any(c.endswith("(-)") and c.startswith("CDS") for c in seen)


def test_structure_strand_swap_pairs_codon_positions():
    vocab = structure_vocab()
    swap = vocab.strand_swap()
    assert [vocab.classes[i] for i in swap] == [
        "intergenic", "CDS0(-)", "CDS1(-)", "CDS2(-)", "CDS0(+)", "CDS1(+)", "CDS2(+)",
        "tRNA(-)", "tRNA(+)", "rRNA(-)", "rRNA(+)", "ncRNA(-)", "ncRNA(+)"]


def _tiny_genbank(path, transl_table="4", products=("30S ribosomal protein S12", "hypothetical protein"),
                  go=False):
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 3000))
    record = SeqRecord(Seq(seq), id="tiny.1", name="tiny", description="tiny test record",
                       annotations={"molecule_type": "DNA"})
    for i, product in enumerate(products):
        start = 100 + 900 * i
        loc = FeatureLocation(start, start + 600, strand=1 if i % 2 == 0 else -1)
        quals = {"locus_tag": [f"T{i}"], "product": [product], "codon_start": ["1"]}
        if transl_table is not None:
            quals["transl_table"] = [transl_table]
        if go:
            quals["GO_function"] = ["GO:0003735 - structural constituent of ribosome [Evidence IEA]"]
        record.features += [SeqFeature(loc, type="gene", qualifiers={"locus_tag": [f"T{i}"]}),
                            SeqFeature(loc, type="CDS", qualifiers=quals)]
    SeqIO.write(record, path, "genbank")
    return path


def test_prepare_writes_structure_and_genetic_code(tmp_path, default_genome):
    out = tmp_path / "gm12"
    meta = prepare(default_genome, out, labels="product", k=3, progress=False)
    store = TokenStore(out)
    assert meta["transl_table"] == 4 == store.transl_table  # M. mycoides: /transl_table=4 in the file
    assert store.structure_labels.classes == list(STRUCTURE_CLASSES)
    (seqid,) = store.seqids
    structure = store.structure(seqid)
    assert isinstance(structure, np.memmap) and structure.shape == store.tokens(seqid).shape
    genes = read_annotation(default_genome)
    reference = per_base_classes(store.records[seqid]["length"], genes)
    centres = np.arange(structure.size) * 3 + 1
    assert [STRUCTURE_CLASSES[i] for i in structure] == list(reference[centres])
    # the product scheme: a fixed class list, hypothetical proteins of unknown function
    assert store.labels.scheme == "product" and store.labels.classes[0] == "intergenic"
    targets = store.targets(seqid)
    hypothetical = [g for g in genes if g.biotype == "protein_coding" and not product_class(g)]
    assert hypothetical
    g = hypothetical[0]
    assert np.all(targets[g.start // 3 + 1:(g.end - 2) // 3] == UNKNOWN)


def test_transl_table_option_and_bad_tables(tmp_path, capsys):
    gb = _tiny_genbank(tmp_path / "tiny.gb", transl_table=None)
    assert prepare(gb, tmp_path / "a", labels="product", split=TINY_SPLIT, progress=False)["transl_table"] == 11  # default
    assert prepare(gb, tmp_path / "b", labels="product", transl_table="4", split=TINY_SPLIT,
                   progress=False)["transl_table"] == 4
    with pytest.raises(GenolongError, match="--transl-table: translation table '7' is not an NCBI genetic code"):
        prepare(gb, tmp_path / "c", labels="product", transl_table="7", progress=False)
    bad = _tiny_genbank(tmp_path / "bad.gb", transl_table="x")
    assert main(["prepare", "--genome", str(bad), "--labels", "product", "--split", TINY_SPLIT,
                 "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.gb: gene T0: /transl_table: translation table 'x' is not an NCBI genetic code" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_product_classes():
    def cls(product, biotype="protein_coding"):
        return product_class(Gene("r", 0, 9, "+", "g", "", biotype, ((0, 9, "+"),), {"product": [product]}))

    assert cls("50S ribosomal protein L2") == "ribosomal protein"
    assert cls("alanine--tRNA ligase") == "tRNA synthetase"
    assert cls("elongation factor Tu") == "translation factor"
    assert cls("DNA-directed RNA polymerase subunit beta") == "RNA polymerase"
    assert cls("DNA gyrase subunit A") == "DNA replication/repair"
    assert cls("IS3 family transposase") == "mobile element"
    assert cls("sugar ABC transporter permease") == "transporter"
    assert cls("LysR family transcriptional regulator") == "regulator/transcription"
    assert cls("glyceraldehyde-3-phosphate dehydrogenase") == "enzyme"
    assert cls("cold-shock protein") == "other"
    assert cls("hypothetical protein") == "" and cls("uncharacterized protein YbaB") == ""
    assert cls("tRNA-Ala", biotype="tRNA") == ""


def test_shared_vocabulary_and_genome_without_go(tmp_path):
    with_go = _tiny_genbank(tmp_path / "go.gb", go=True)
    without = _tiny_genbank(tmp_path / "nogo.gb")
    prepare(with_go, tmp_path / "s1", labels="go", split=TINY_SPLIT, progress=False)
    with pytest.raises(GenolongError, match="labels none of the 2 genes"):
        prepare(without, tmp_path / "s2", labels="go", split=TINY_SPLIT, progress=False)
    vocab = tmp_path / "s1" / "labels.json"
    meta = prepare(without, tmp_path / "s2", labels="go", vocab=vocab, progress=False,
                   split=TINY_SPLIT)
    assert meta["labels"] == json.loads(vocab.read_text()) and meta["n_labelled_genes"] == 0
    store = TokenStore(tmp_path / "s2")
    targets = store.targets(store.seqids[0])
    genic = targets[:, 0] == 1
    assert genic.any() and np.all(targets[genic, 1:] == UNKNOWN)  # function unknown: no loss
    assert store.structure(store.seqids[0]).any()  # structure still trains
    with pytest.raises(GenolongError, match="shared vocabulary is scheme 'go'"):
        prepare(without, tmp_path / "s3", labels="product", vocab=vocab, split=TINY_SPLIT, progress=False)
