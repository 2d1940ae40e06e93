"""`data/obo.read_terms` reads what obonet reads, for the fields the GO graph uses."""

import gzip
import io

import obonet
import pytest

from genolong.data.obo import read_terms, tag_value
from genolong.data.ontology import DEFAULT_OBO, PROPAGATING

# every shape the fast split must agree with obonet's expression on: comments, a trailing
# modifier, tabs, an escaped '!', a value with trailing spaces, a repeated term, an obsolete one,
# an edge to an id without a stanza, a duplicate edge by two relations, a comment line
TRICKY = """format-version: 1.2
ontology: go

[Term]
id: GO:0000001
name: root thing ! a comment
namespace: biological_process

[Term]
id: GO:0000002
name: child\\! not a comment  ! but this is
namespace: biological_process
is_a: GO:0000001 ! root thing
relationship: part_of GO:0000001 ! root thing
alt_id: GO:0000009
! a comment line
is_a:\tGO:0000001 {source="x"} ! again

[Term]
id: GO:0000003
name: third   ! trailing spaces before the comment
namespace: molecular_function
is_a: GO:0000404 ! not defined anywhere
relationship: regulates GO:0000002

[Term]
id: GO:0000002
namespace: cellular_component

[Term]
id: GO:0000005
name: gone
is_obsolete: true
is_a: GO:0000001

[Typedef]
id: part_of
name: part of
"""


def _obonet(lines):
    graph = obonet.read_obo(io.StringIO("".join(lines)))
    nodes = {t: {k: d[k] for k in ("name", "namespace", "alt_id") if k in d} for t, d in graph.nodes(data=True)}
    edges = sorted((c, r, p) for c, p, r in graph.edges(keys=True))
    return nodes, edges


def _ours(lines):
    terms = read_terms(lines)
    nodes = {t: {k: d[k] for k in ("name", "namespace", "alt_id") if k in d} for t, d in terms.nodes.items()}
    return nodes, sorted(dict.fromkeys(terms.edges))


def test_tricky_lines_read_as_obonet_reads_them():
    lines = TRICKY.splitlines(keepends=True)
    ours, theirs = _ours(lines), _obonet(lines)
    assert list(ours[0]) == list(theirs[0])  # node order too
    assert ours == theirs
    assert ours[0]["GO:0000002"]["name"] == "child\\! not a comment "
    assert "GO:0000005" not in ours[0] and "GO:0000404" in ours[0]


@pytest.mark.parametrize("line", ["name: a ! b", "name: a  ! b", "name:a", "name: a  ", "name: ! only a comment",
                                  "x: y: z ! w", "name: a\t! b", "is_a: GO:1 {x=\"y\"} ! c", "def: \"a\" [b:c]"])
def test_tag_value_matches_obonet(line):
    tag_line = obonet.read.parse_tag_line(line + "\n")
    assert tag_value(line + "\n") == (tag_line.tag, tag_line.value)


@pytest.mark.slow
def test_embedded_go_release_reads_as_obonet_reads_it():
    with gzip.open(DEFAULT_OBO, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    ours, theirs = _ours(lines), _obonet(lines)
    assert list(ours[0]) == list(theirs[0])
    assert ours == theirs
    assert sum(r in PROPAGATING for _, r, _ in ours[1]) > 70000
