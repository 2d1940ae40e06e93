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


# A GO graph small enough to work out by hand. Biological process: A under the root; B is_a A;
# C part_of A; D is_a B and part_of C (a diamond), alt_id D2; R is_a the root and only regulates D
# (not an ancestor relation); O obsolete. Molecular function: M and N under their root.
DIAMOND_OBO = """\
format-version: 1.2
ontology: go

[Term]
id: GO:0008150
name: biological_process
namespace: biological_process

[Term]
id: GO:0003674
name: molecular_function
namespace: molecular_function

[Term]
id: GO:0000010
name: term a
namespace: biological_process
is_a: GO:0008150 ! biological_process

[Term]
id: GO:0000020
name: term b
namespace: biological_process
is_a: GO:0000010 ! term a

[Term]
id: GO:0000030
name: term c
namespace: biological_process
relationship: part_of GO:0000010 ! term a

[Term]
id: GO:0000040
name: term d
namespace: biological_process
alt_id: GO:0000041
is_a: GO:0000020 ! term b
relationship: part_of GO:0000030 ! term c

[Term]
id: GO:0000050
name: term r
namespace: biological_process
is_a: GO:0008150 ! biological_process
relationship: regulates GO:0000040 ! term d

[Term]
id: GO:0000060
name: term m
namespace: molecular_function
is_a: GO:0003674 ! molecular_function

[Term]
id: GO:0009999
name: term n
namespace: molecular_function
is_a: GO:0003674 ! molecular_function

[Term]
id: GO:0000099
name: obsolete term o
namespace: biological_process
is_obsolete: true
"""


@pytest.fixture(scope="session")
def diamond_obo(tmp_path_factory) -> Path:
    """A hand-made OBO file (DIAMOND_OBO above), written once per session."""
    path = tmp_path_factory.mktemp("go") / "diamond.obo"
    path.write_text(DIAMOND_OBO)
    return path
