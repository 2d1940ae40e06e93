"""Read the parts of an OBO file that the GO graph needs: each [Term]'s id, name, namespace,
alt_ids, is_a and relationships, obsolete terms left out.

It gives what `obonet.read_obo` gives for those fields (its tag-line rules: a value ends at
the first whitespace followed by `!`, a trailing `{...}` modifier is dropped, a later
single-valued tag of a stanza overrides an earlier one, a term that appears twice has its
fields merged, an edge to an id without a [Term] stanza makes a node without data) in a fifth of
the time: `genolong annotate` reads the GO graph on every run, and obonet's regular expression on
each of its ~235,000 tag lines plus the networkx graph took 3.6 s of a 47 s Afade run (one thread;
0.7-1.1 s this way, benchmarks/README.md). Lines of the common shape (no tab, backslash or brace)
are split with string operations; any other line goes through obonet's own expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# obonet's tag-line expression (obonet/read.py, 1.x), for the lines the fast split does not take
TAG_LINE = re.compile(
    r"""^
    (?P<tag>.+?):\s*
    (?P<value>.*?)
    (?:\s(?P<trailing_modifier>(?<!\\)\{[^{}]*\}))?
    (?:\s(?P<comment>(?<!\\)![^\n]*))?
    \s*$
    """,
    re.VERBOSE,
)
# the tags read; single-valued ones keep their last value (obonet's `term_tag_singularity`)
SINGLE = frozenset({"id", "name", "namespace", "is_obsolete"})
MULTI = frozenset({"alt_id", "is_a", "relationship"})


@dataclass
class OboTerms:
    """Terms in obonet's node order, each a dict of the tags read, and edges (child, relation,
    parent) in the order obonet adds them (duplicates included: a graph keeps one)."""

    nodes: dict[str, dict] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)


def tag_value(line: str) -> tuple[str, str]:
    """(tag, value) of one tag line, as obonet's `parse_tag_line` reads them; ValueError if it
    is not one."""
    colon = line.find(":")
    if colon > 0 and "\t" not in line and "\\" not in line and "{" not in line:
        value = line[colon + 1 :].strip()
        comment = value.find(" !")  # a comment needs whitespace before it inside the value
        return line[:colon], value if comment < 0 else value[:comment]
    match = TAG_LINE.match(line)
    if match is None:
        raise ValueError(f"Tag-value pair parsing failed for:\n{line}")
    return match.group("tag"), match.group("value")


def _term(lines: list[str]) -> dict:
    term: dict = {}
    for line in lines:
        if line.startswith("!"):
            continue
        tag, value = tag_value(line)
        if tag in SINGLE:
            term[tag] = value
        elif tag in MULTI:
            term.setdefault(tag, []).append(value)
    return term


def read_terms(lines) -> OboTerms:
    """The [Term] stanzas of an OBO text (an iterable of lines), obsolete ones left out."""
    out = OboTerms()
    stanza: list[str] = []
    for line in (*lines, ""):
        if line.strip():
            stanza.append(line)
            continue
        if stanza and stanza[0].startswith("[Term]"):
            term = _term(stanza[1:])
            if term.get("is_obsolete", "false") != "true":
                if "id" not in term:
                    raise ValueError(f"a [Term] stanza without an id: {stanza[1].strip() if len(stanza) > 1 else ''}")
                term_id = term.pop("id")
                out.edges += [(term_id, "is_a", p) for p in term.pop("is_a", [])]
                for relationship in term.pop("relationship", []):
                    relation, parent = relationship.split(" ")  # obonet's rule: exactly two words
                    out.edges.append((term_id, relation, parent))
                out.nodes.setdefault(term_id, {}).update(term)
        stanza = []
    for _, _, parent in out.edges:  # an edge to an unknown id adds it, without data
        out.nodes.setdefault(parent, {})
    return out
