"""Where one `genolong annotate` process spends its time: the CLI run in this process with
timers wrapped around its stages.

    python benchmarks/stage_timer.py --json PATH -- annotate --checkpoint CKPT --genome G --out PREFIX ...

Each stage's time is exclusive: a stage nested in another (the network forward inside the
record loop, the homology search inside the function step) and every module import (counted
once, in `imports`, wherever it happens) are taken out of the enclosing stage, so the rows add
up to the process's wall time from the interpreter's start (`interpreter` is what Python needed
before this script ran, read from the process's start time). Stages run on other threads (the
network forward at `--threads` > 1) are summed over those threads and listed apart; the main
thread's wait for them stays in the stage that waits (`tile, stitch, ...`). Functions that `annotate` imports
lazily are wrapped as soon as their module is loaded.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import sys
import threading
import time

T_SCRIPT = time.perf_counter()
T_SCRIPT_WALL = time.time()

# (module, dotted attribute, stage name): the stages of `genolong annotate`, outermost first
STAGES = [
    ("genolong.annotate.annotator", "Annotator.annotate", "annotate (rest)"),
    ("genolong.annotate.annotator", "Annotator.from_checkpoint", "checkpoint load"),
    ("genolong.data.tokenizer", "KmerTokenizer.encode_record", "tokenize"),
    ("genolong.annotate.annotator", "Annotator.record_probs", "tile, stitch, probabilities, spill"),
    ("genolong.annotate.annotator", "Annotator._forward", "network forward"),
    ("genolong.annotate.annotator", "decode_genome", "gene decoder"),
    ("genolong.annotate.rna_genes", "source_genes", "RNA genes (aragorn, barrnap)"),
    ("genolong.annotate.function", "FunctionPredictor.from_checkpoint", "function: load (rest)"),
    ("genolong.data.ontology", "_read_cached", "function: GO graph read"),
    ("genolong.annotate.homology", "HomologyIndex.load", "function: homology index load"),
    ("genolong.annotate.function", "annotate_function", "function: pooling, translation, names"),
    ("genolong.annotate.homology", "HomologyIndex.search", "function: homology search"),
    ("genolong.models.gene_function", "predict_gene_function", "function: gene network"),
    ("genolong.training.gene_function", "predict_gene_function", "function: gene network"),  # before 2026-12-04
    ("genolong.annotate.annotator", "AnnotationResult.write", "write (rest)"),
    ("genolong.annotate.annotator", "save_probs", "write probs.npz"),
    ("genolong.annotate.formats", "write_genbank", "write gbk"),
    ("genolong.annotate.formats", "write_gene_gff3", "write gff3"),
    ("genolong.annotate.formats", "write_faa", "write faa"),
    ("genolong.annotate.function", "save_function", "write function.npz"),
]

totals: dict[str, float] = {}  # the main thread's stages: they add up to its wall time
worker_totals: dict[str, float] = {}  # stages run on other threads (the network's workers), summed over threads
_local = threading.local()


def _enter(stage: str) -> None:
    if not hasattr(_local, "stack"):
        _local.stack = []  # [stage, start, time of children]
    _local.stack.append([stage, time.perf_counter(), 0.0])


def _leave() -> None:
    stack = _local.stack
    stage, start, children = stack.pop()
    spent = time.perf_counter() - start
    into = totals if threading.current_thread() is threading.main_thread() else worker_totals
    into[stage] = into.get(stage, 0.0) + spent - children
    if stack:
        stack[-1][2] += spent


def _timed(fn, stage):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _enter(stage)
        try:
            return fn(*args, **kwargs)
        finally:
            _leave()
    return wrapper


_pending = list(STAGES)


def _patch_loaded() -> None:
    for item in list(_pending):
        module_name, attr, stage = item
        module = sys.modules.get(module_name)
        if module is None or getattr(module.__spec__, "_initializing", False):
            continue
        _pending.remove(item)
        owner, name = module, attr
        if "." in attr:
            cls_name, name = attr.split(".")
            owner = getattr(module, cls_name)
        raw = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if raw is None:  # not in this version of the code
            continue
        if isinstance(raw, classmethod):
            setattr(owner, name, classmethod(_timed(raw.__func__, stage)))
        else:
            setattr(owner, name, _timed(raw, stage))


_real_import = builtins.__import__
_importing = [0]


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if _importing[0] or (name in sys.modules and not fromlist):
        return _real_import(name, globals, locals, fromlist, level)
    _importing[0] += 1
    _enter("imports")
    try:
        return _real_import(name, globals, locals, fromlist, level)
    finally:
        _leave()
        _importing[0] -= 1
        _patch_loaded()


def _process_start() -> float:
    """Wall-clock time this process started (Linux: /proc/self/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as fh:
        start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as fh:
        boot = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
    return boot + start_ticks / ticks


def main(argv: list[str]) -> int:
    split = argv.index("--")
    out, cli_args = argv[split - 1] if argv[:split] else None, argv[split + 1 :]
    if argv[:split] != ["--json", out]:
        sys.exit("usage: stage_timer.py --json PATH -- annotate ARGS...")
    builtins.__import__ = _import
    _enter("other (CLI, argument checks, unwrapped code)")
    try:
        from genolong.cli import main as cli_main

        rc = cli_main(cli_args)
    finally:
        _leave()
        builtins.__import__ = _real_import
    wall = time.perf_counter() - T_SCRIPT
    interpreter = max(0.0, T_SCRIPT_WALL - _process_start())
    rows = {"interpreter": interpreter, **{k: v for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}}
    total = wall + interpreter
    for stage, seconds in rows.items():
        print(f"{stage:<45} {seconds:8.2f} s {100 * seconds / total:5.1f}%", file=sys.stderr)
    print(f"{'total':<45} {total:8.2f} s", file=sys.stderr)
    for stage, seconds in worker_totals.items():
        print(f"{stage + ' (worker threads, summed)':<45} {seconds:8.2f} s", file=sys.stderr)
    with open(out, "w") as fh:
        json.dump({"stages": rows, "total_s": total, "worker_stages": worker_totals, "argv": cli_args}, fh, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
