"""The 14 inputs that ended in a Python traceback (issue 21, cases 1-4), in one table: each now
either works (cases 1 and 3: a protein with X, a fresh FASTA index) or is one line and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genolong.cli import main
from tests.annotate.helpers import BIOTYPE, TINY_ENCODER, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
PLASMID = REPO / "tests" / "data" / "NC_005816.gb"
OTHER_MODEL = REPO / "tests" / "data" / "checkpoint_c5387f4_longformer.ckpt"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from genolong.data.tokenizer import KmerTokenizer

    return save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path_factory.mktemp("c") / "tiny.ckpt")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s") / "plasmid"
    assert main(["prepare", "--genome", str(PLASMID), "--labels", "biotype", "--split",
                 "contiguous:val=0.2;test=0.1;gap=100", "--out", str(out)]) == 0
    return out


def _translation(codon: str) -> str:
    from genolong.annotate.formats import translate
    from genolong.annotate.genes import GeneCall

    class Genome:
        lengths = {"c": 12}

        def fetch(self, seqid, a, b):
            return ("ATG" + codon + "AAATAA").encode()[a:b]

    gene = GeneCall("c", 0, 12, "+", "g", "g", "protein_coding", "x", 0.9, np.zeros(2, dtype=np.float32))
    return translate(Genome(), gene, 11)


def _blocked(folder: Path) -> Path:
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
    elif not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("cannot make a folder unwritable here")
    return folder


def _unblock(folder: Path) -> None:
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def _cli(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err


def _train(overrides, store, tmp_path, monkeypatch, capsys):
    from genolong.training.train import main as train_main
    from tests.training.conftest import tiny

    monkeypatch.setattr(sys, "argv", ["genolong-train", *tiny(store, "debug=fdr", *overrides),
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as exited:
        train_main()
    return exited.value.code, capsys.readouterr().err


def _stale_fai(tmp_path, ckpt, capsys):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "ACGTTGCAAT" * 900 + "\n")
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(fasta), "--out", str(tmp_path / "x"),
                 "--no-progress", "--device", "cpu"]) == 0
    older = tmp_path / "older.fa"
    older.write_text(">a\n" + "ACGTTGCAAT" * 700 + "\n")
    os.utime(older, (1e9, 1e9))
    os.replace(older, fasta)
    rc = main(["annotate", "--checkpoint", str(ckpt), "--genome", str(fasta), "--out", str(tmp_path / "x"),
               "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert "7000" in (tmp_path / "x.gff3").read_text()  # ##sequence-region a 1 7000: the new file's length
    return rc, err


def _truncated(tmp_path):
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(OTHER_MODEL.read_bytes()[:5000])
    return path


# name -> (run(tmp_path, fixtures) -> (exit code, stderr) or a protein, what is expected)
ROWS = {
    "stop-only IUPAC codon in a gene": (lambda t, f: _translation("TAR"), "MXK"),
    "'*' in a gene": (lambda t, f: _translation("*AA"), "MXK"),
    "lower-case IUPAC in a gene": (lambda t, f: _translation("tar"), "MXK"),
    "gap run in a gene": (lambda t, f: _translation("---"), "MXK"),
    "annotate into an unwritable folder": (
        lambda t, f: _cli(["annotate", "--checkpoint", str(f["ckpt"]), "--genome", str(PLASMID),
                           "--out", str(_blocked(t / "b") / "x")], f["capsys"]), "cannot write in"),
    "evaluate into an unwritable folder": (
        lambda t, f: _cli(["evaluate", "--pred", str(t / "p"), "--reference", str(PLASMID),
                           "--out", str(_blocked(t / "b") / "e")], f["capsys"]), "cannot write in"),
    "prepare into an unwritable folder": (
        lambda t, f: _cli(["prepare", "--genome", str(PLASMID), "--labels", "biotype",
                           "--out", str(_blocked(t / "b") / "s")], f["capsys"]), "cannot write in"),
    "evaluate --out an existing file": (
        lambda t, f: (t / "file.txt").write_text("mine") and _cli(
            ["evaluate", "--pred", str(t / "p"), "--reference", str(PLASMID), "--out", str(t / "file.txt")],
            f["capsys"]), "file.txt: --out: exists and is a file"),
    "stale .fai": (lambda t, f: _stale_fai(t, f["ckpt"], f["capsys"]), 0),
    "seed=abc": (lambda t, f: _train(["seed=abc"], *f["train"]), "config seed: expected an integer"),
    "optimizer.lr=nan": (lambda t, f: _train(["optimizer.lr=nan"], *f["train"]), "config optimizer.lr: must be finite"),
    "torch_threads=-1": (lambda t, f: _train(["torch_threads=-1"], *f["train"]), "config torch_threads: must be >= 1"),
    "truncated ckpt_path": (lambda t, f: _train([f"ckpt_path={_truncated(t)}"], *f["train"]),
                            "truncated.ckpt: not a readable checkpoint"),
    "ckpt_path of another shape": (lambda t, f: _train([f"ckpt_path={OTHER_MODEL}"], *f["train"]),
                                   "checkpoint is of another model"),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_former_traceback(name, tiny_checkpoint, store, tmp_path, monkeypatch, capsys):
    run, expected = ROWS[name]
    fixtures = {"ckpt": tiny_checkpoint, "capsys": capsys, "train": (store, tmp_path, monkeypatch, capsys)}
    try:
        got = run(tmp_path, fixtures)
    finally:
        if (tmp_path / "b").exists():
            _unblock(tmp_path / "b")
    if isinstance(got, str):  # a translation
        assert got == expected
        return
    rc, err = got
    assert "Traceback" not in err, err
    if expected == 0:
        assert rc == 0, err
        return
    assert rc == 2, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and expected in lines[0], err
