"""Issue 21 case 8: annotate's outputs are one set: a run failing while writing leaves the
previous run's files as they were (never new ones beside old ones), and what a killed run left
is removed by the next."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genolong.annotate.output_set import write_set
from genolong.errors import GenolongError


def _writer(text):
    def write(path):
        path.write_text(text)
    return write


def _failing(path):
    path.write_text("half")
    raise GenolongError(f"{path}: cannot write this one")


def test_a_failing_file_leaves_the_previous_set_whole(tmp_path):
    prefix = tmp_path / "out" / "x"
    first = write_set(prefix, {"gff3": _writer("old gff3"), "bed": _writer("old bed"), "faa": _writer("old faa")})
    assert sorted(p.name for p in first.values()) == ["x.bed", "x.faa", "x.gff3"]
    with pytest.raises(GenolongError, match="cannot write this one"):
        write_set(prefix, {"gff3": _writer("new gff3"), "bed": _writer("new bed"), "faa": _failing})
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == {
        "x.gff3": "old gff3", "x.bed": "old bed", "x.faa": "old faa"}
    write_set(prefix, {"gff3": _writer("new gff3"), "bed": _writer("new bed"), "faa": _writer("new faa")})
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == {
        "x.gff3": "new gff3", "x.bed": "new bed", "x.faa": "new faa"}


def test_a_killed_runs_folder_is_removed_by_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = tmp_path / f".x.set.{dead}.k1ll3d.tmp"
    left.mkdir()
    (left / "x.gff3").write_text("half")
    write_set(tmp_path / "x", {"gff3": _writer("whole")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gff3"]


def test_an_output_equal_to_an_input_is_refused_before_writing(tmp_path):
    genome = tmp_path / "x.gbk"
    genome.write_text("LOCUS\n")
    with pytest.raises(GenolongError, match="x.gbk: --out .*would overwrite the input"):
        write_set(tmp_path / "x", {"gff3": _writer("a"), "gbk": _writer("b")}, [genome])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gbk"] and genome.read_text() == "LOCUS\n"
