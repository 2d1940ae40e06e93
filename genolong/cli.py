"""`genolong` command line: one subcommand per module.

Each module in COMMANDS exposes `add_arguments(parser)` and `run(args) -> int`, and keeps heavy
imports (torch, lightning) inside `run`, so `genolong --help` stays fast.
User mistakes raise GenolongError: printed as one line, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from genolong import __version__
from genolong.errors import GenolongError

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("genolong.data.prepare", "tokenize a genome and its labels into a token store"),
    "inspect": ("genolong.data.inspect", "summarise a token store"),
    "fetch": ("genolong.data.fetch", "download or copy a genome file, verified by sha256, atomically"),
    "annotate": ("genolong.annotate.cli", "annotate a genome from a trained checkpoint (GFF3, BED, TSV)"),
    "fit-function": ("genolong.annotate.function_fit",
                     "learn a checkpoint's per-gene function head and homology index from its token stores"),
    "fit-rna": ("genolong.annotate.rna_fit", "train the RNA-gene caller network (tRNA, tmRNA, rRNA) on annotated genomes"),
    "fit-genes": ("genolong.annotate.gene_caller_fit",
                  "learn a checkpoint's ORF net (gene vs shadow ORF) and its decoder weight from its token stores"),
    "fit-starts": ("genolong.annotate.start_caller_fit",
                   "learn a checkpoint's TIS net (which start of a stop is the gene's) and its decoder weight"),
    "evaluate": ("genolong.evaluate.cli", "score an annotation against a reference and baselines"),
    "baseline": ("genolong.evaluate.baseline", "train the k-mer logistic-regression baseline from a token store"),
    "homology": ("genolong.annotate.homology", "index the labelled proteins of token stores for homology search"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genolong", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"genolong {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sp = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except GenolongError as exc:
        print(f"genolong {args.command}: error: {exc}", file=sys.stderr)
        return GenolongError.exit_code
    except OSError as exc:
        if exc.filename is None:
            raise
        # the file system refused a write or read the early checks could not foresee (a disk
        # full, permissions changed mid-run): the user's to fix, so one line
        print(f"genolong {args.command}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return GenolongError.exit_code
    except KeyboardInterrupt:
        print(f"genolong {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
