"""`genolong fetch` against a real HTTP server on 127.0.0.1 and against local paths."""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import pytest

from genolong.data import fetch as fetch_mod
from genolong.errors import GenolongError

REPO = Path(__file__).resolve().parents[2]

GFF_GZ = REPO / "data" / "mycoides_Afade.gff3.gz"
FNA_GZ = REPO / "data" / "mycoides_Afade.fna.gz"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def gff_bytes() -> bytes:
    return gzip.decompress(GFF_GZ.read_bytes())


def test_good_file_with_checksum(http_server, tmp_path, gff_bytes):
    url = http_server.serve("/afade.gff3", gff_bytes)
    out = tmp_path / "resources" / "afade.gff3"
    result = fetch_mod.fetch(url, out, sha256=sha(gff_bytes).upper(), quiet=True)
    assert out.read_bytes() == gff_bytes
    assert result.sha256 == sha(gff_bytes)
    assert result.n_bytes == len(gff_bytes)
    assert result.attempts == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["afade.gff3"]


def test_gzip_kept_when_output_is_gz(http_server, tmp_path):
    raw = FNA_GZ.read_bytes()
    url = http_server.serve("/afade.fna.gz", raw)
    out = tmp_path / "resources" / "afade.fna.gz"
    fetch_mod.fetch(url, out, sha256=sha(raw), quiet=True)
    assert out.read_bytes() == raw


def test_gzip_decompressed_when_output_is_plain(http_server, tmp_path):
    raw = FNA_GZ.read_bytes()
    url = http_server.serve("/afade.fna.gz", raw)
    out = tmp_path / "resources" / "afade.fna"
    # the checksum is of the bytes as served (compressed), as archives publish it
    result = fetch_mod.fetch(url, out, sha256=sha(raw), quiet=True)
    assert out.read_bytes() == gzip.decompress(raw)
    assert out.read_bytes().startswith(b">")
    assert result.n_bytes == len(raw)


def test_multi_member_gzip_is_followed(http_server, tmp_path, gff_bytes):
    half = len(gff_bytes) // 2
    raw = gzip.compress(gff_bytes[:half]) + gzip.compress(gff_bytes[half:])
    url = http_server.serve("/two_members.gff3.gz", raw)
    out = tmp_path / "resources" / "two_members.gff3"
    fetch_mod.fetch(url, out, quiet=True)
    assert out.read_bytes() == gff_bytes


def test_sha256_mismatch_fails_and_leaves_nothing(http_server, tmp_path, gff_bytes):
    url = http_server.serve("/afade.gff3", gff_bytes)
    resources = tmp_path / "resources"
    wrong = sha(gff_bytes + b"x")
    with pytest.raises(GenolongError, match="sha256 mismatch") as info:
        fetch_mod.fetch(url, resources / "afade.gff3", sha256=wrong, quiet=True)
    message = str(info.value)
    assert url in message and wrong in message and sha(gff_bytes) in message
    assert "\n" not in message
    assert list(resources.iterdir()) == []  # no output, no temporary file
    assert http_server.hits("/afade.gff3") == 1  # a mismatch is final, not retried


def test_404_fails_at_once(http_server, tmp_path):
    url = f"{http_server.base_url}/missing.fna.gz"
    resources = tmp_path / "resources"
    with pytest.raises(GenolongError, match="HTTP 404") as info:
        fetch_mod.fetch(url, resources / "missing.fna.gz", retries=3, backoff=0, quiet=True)
    assert url in str(info.value)
    assert not (resources / "missing.fna.gz").exists()
    assert list(resources.iterdir()) == []


def test_transient_errors_are_retried(http_server, tmp_path, gff_bytes):
    url = http_server.serve("/flaky.gff3", gff_bytes, fail_first=1, truncate_first=1)
    out = tmp_path / "resources" / "flaky.gff3"
    messages: list[str] = []
    result = fetch_mod.fetch(
        url, out, sha256=sha(gff_bytes), retries=3, backoff=0, quiet=True, log=messages.append
    )
    assert result.attempts == 3
    assert out.read_bytes() == gff_bytes
    assert "503" in messages[0] and "short read" in messages[1]


def test_retries_exhausted(http_server, tmp_path, gff_bytes):
    url = http_server.serve("/down.gff3", gff_bytes, fail_first=10)
    resources = tmp_path / "resources"
    with pytest.raises(GenolongError, match="after 3 attempts"):
        fetch_mod.fetch(url, resources / "down.gff3", retries=2, backoff=0, quiet=True, log=print)
    assert http_server.hits("/down.gff3") == 3
    assert list(resources.iterdir()) == []


def test_truncated_gzip_fails(http_server, tmp_path):
    raw = FNA_GZ.read_bytes()[:100_000]
    url = http_server.serve("/cut.fna.gz", raw)
    resources = tmp_path / "resources"
    with pytest.raises(GenolongError, match="truncated"):
        fetch_mod.fetch(url, resources / "cut.fna.gz", quiet=True)
    assert list(resources.iterdir()) == []


def test_local_path_is_copied_and_verified(tmp_path):
    raw = GFF_GZ.read_bytes()
    out = tmp_path / "resources" / "afade.gff3.gz"
    result = fetch_mod.fetch(str(GFF_GZ), out, sha256=sha(raw), quiet=True)
    assert out.read_bytes() == raw and not out.is_symlink()
    assert result.attempts == 1
    with pytest.raises(GenolongError, match="sha256 mismatch"):
        fetch_mod.fetch(str(GFF_GZ), tmp_path / "other" / "x.gff3.gz", sha256="0" * 64, quiet=True)
    assert list((tmp_path / "other").iterdir()) == []


def test_file_url(tmp_path, gff_bytes):
    out = tmp_path / "resources" / "afade.gff3"
    fetch_mod.fetch(GFF_GZ.as_uri(), out, quiet=True)
    assert out.read_bytes() == gff_bytes


@pytest.mark.parametrize(
    "source, kwargs, pattern",
    [
        ("/no/such/genome.fna", {}, "no such file"),
        (str(GFF_GZ), {"sha256": "abc"}, "not 64 hexadecimal digits"),
    ],
)
def test_user_mistakes(tmp_path, source, kwargs, pattern):
    with pytest.raises(GenolongError, match=pattern):
        fetch_mod.fetch(source, tmp_path / "out", quiet=True, **kwargs)


def test_cli_run(http_server, tmp_path, gff_bytes, capsys):
    url = http_server.serve("/afade.gff3", gff_bytes)
    parser = argparse.ArgumentParser()
    fetch_mod.add_arguments(parser)
    out = tmp_path / "resources" / "afade.gff3"
    args = parser.parse_args([url, "--out", str(out), "--sha256", sha(gff_bytes), "--quiet"])
    assert fetch_mod.run(args) == 0
    assert out.read_bytes() == gff_bytes
    assert sha(gff_bytes) in capsys.readouterr().out


def test_cli_user_mistake_is_one_line_exit_2(http_server, tmp_path):
    import subprocess
    import sys

    url = f"{http_server.base_url}/missing.gff3"
    result = subprocess.run(
        [sys.executable, "-m", "genolong.cli", "fetch", url, "--out", str(tmp_path / "r" / "x.gff3")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"genolong fetch: error: {url}: HTTP 404 Not Found"]
    assert not (tmp_path / "r" / "x.gff3").exists()


def test_cli_index_builds_fai_once(http_server, tmp_path):
    contig = REPO / "tests" / "pipeline" / "data" / "afade_contig5.fna.gz"
    url = http_server.serve("/contig5.fna.gz", contig.read_bytes())
    parser = argparse.ArgumentParser()
    fetch_mod.add_arguments(parser)
    out = tmp_path / "resources" / "contig5.fna"  # decompressed: pyfaidx indexes it in place
    assert fetch_mod.run(parser.parse_args([url, "--out", str(out), "--index", "--quiet"])) == 0
    fai = (tmp_path / "resources" / "contig5.fna.fai").read_text().split("\t")
    assert fai[:2] == ["NZ_LAEX01000005.1", "34901"]


def test_cli_index_refuses_a_non_genome(http_server, tmp_path, gff_bytes):
    url = http_server.serve("/afade.gff3", gff_bytes)
    parser = argparse.ArgumentParser()
    fetch_mod.add_arguments(parser)
    args = parser.parse_args([url, "--out", str(tmp_path / "r" / "afade.gff3"), "--index", "--quiet"])
    with pytest.raises(GenolongError):
        fetch_mod.run(args)
