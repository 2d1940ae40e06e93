"""Shared path fixtures: real data only, no downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "tests" / "data"
DEFAULT_GENOME = REPO / "data" / "mycoides_GM12.gbff.gz"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: small real fixtures (plasmid, E. coli region, chloroplast, Afade, dialects)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def default_genome() -> Path:
    """data/mycoides_GM12.gbff.gz: the embedded default genome (GenBank with GO qualifiers)."""
    return DEFAULT_GENOME
