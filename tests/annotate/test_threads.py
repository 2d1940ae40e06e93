"""`--threads N`: torch's and the BLAS pools' size, and the same annotation at any count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from genolong.annotate.probs import load_probs
from genolong.cli import main
from genolong.threads import all_cores

from .helpers import afade_first_contig, fasta_from


@pytest.fixture
def restore_threads():
    """Each command sets the pools process-wide: put them back for the other tests."""
    before = torch.get_num_threads()
    with threadpool_limits(limits=None):  # restores the BLAS pools' sizes on exit
        yield
    torch.set_num_threads(before)


def test_annotations_identical_at_one_and_two_threads(trained, data_dir, tmp_path, restore_threads):
    ckpt, store = trained
    genome = fasta_from({"afade": afade_first_contig(data_dir, 60_000)}, tmp_path / "afade.fa")
    out = {}
    for n in (1, 2):
        prefix = tmp_path / f"t{n}" / "afade"
        assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(genome), "--out", str(prefix),
                     "--store", str(store), "--batch-size", "4", "--no-progress", "--threads", str(n)]) == 0
        assert torch.get_num_threads() == n
        assert all(pool["num_threads"] == n for pool in threadpool_info())
        out[n] = prefix
    for ext in (".gff3", ".genes.tsv", ".bed"):  # (a model trained for 8 steps may call no gene)
        assert out[1].with_suffix(ext).read_text() == out[2].with_suffix(ext).read_text()
    # the network's outputs themselves, bit for bit: what every call is made from
    one, two = (load_probs(out[n].with_suffix(".probs.npz")) for n in (1, 2))
    np.testing.assert_array_equal(one.structure["afade"], two.structure["afade"])
    np.testing.assert_array_equal(one.probs["afade"], two.probs["afade"])


def test_threads_default_and_bad_value(trained, data_dir, tmp_path, restore_threads, capsys):
    ckpt, store = trained
    genome = fasta_from({"afade": afade_first_contig(data_dir, 3_000)}, tmp_path / "afade.fa")
    torch.set_num_threads(1)
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(genome), "--out", str(tmp_path / "a"),
                 "--no-progress"]) == 0
    assert torch.get_num_threads() == all_cores()  # default: every core this process may use
    capsys.readouterr()
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(genome), "--out", str(tmp_path / "b"),
                 "--threads", "0"]) == 2
    assert capsys.readouterr().err.strip() == "genolong annotate: error: --threads 0: must be at least 1"


def test_prepare_and_evaluate_take_threads(data_dir, tmp_path, restore_threads):
    for n in (2, 1):
        assert main(["prepare", "--genome", str(data_dir / "D10483.gbk"), "--labels", "biotype",
                     "--out", str(tmp_path / "store"), "--threads", str(n)]) == 0
        assert all(pool["num_threads"] == n for pool in threadpool_info())
    assert main(["evaluate", "--pred", str(tmp_path / "missing"), "--reference", str(data_dir / "D10483.gbk"),
                 "--out", str(tmp_path / "eval"), "--threads", "2"]) == 2  # the pools are set first
    assert all(pool["num_threads"] == 2 for pool in threadpool_info())
