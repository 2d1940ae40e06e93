"""A real token store of the default genome, prepared once per session."""

from __future__ import annotations

import pytest

from genolong.cli import main


@pytest.fixture(scope="session")
def biotype_store(tmp_path_factory, default_genome):
    out = tmp_path_factory.mktemp("store") / "gm12_biotype"
    assert main(["prepare", "--genome", str(default_genome), "--labels", "biotype", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def go_store(tmp_path_factory, default_genome):
    out = tmp_path_factory.mktemp("store") / "gm12_go"
    assert main(["prepare", "--genome", str(default_genome), "--labels", "go", "--out", str(out)]) == 0
    return out
