"""Encoder benchmark: one training step of genolong's encoders against the public ones.

    python benchmarks/encoders.py [--lengths 1024,4096,16384,65536] [--json PATH]

One step = forward + backward of cross-entropy over every token through a 4101-way head;
batch 1, d=256, 4 heads, FF 1024, depth 4, LSH bucket 64 x 4 hashes, 2 threads. Every
configuration runs in a fresh subprocess (peak RSS is measured there, above the baseline after
the model is built) and gives up after --timeout seconds. The peers come from the `bench` extra
(reformer-pytorch, transformers). Each table is run in two allocator environments: glibc's
default, and one that keeps freed memory in the process (see PERFORMANCE notes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

VOCAB, D, HEADS, FF, DEPTH, BUCKET, HASHES, WINDOW = 4101, 256, 4, 1024, 4, 64, 4, 256
SYSTEMS = ("genolong-lsh", "genolong-sliding", "genolong-full", "lucidrains-reformer",
           "hf-reformer", "hf-longformer")
PEERS = ("lucidrains-reformer", "hf-reformer", "hf-longformer")
TUNED_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


# ---------------------------------------------------------------------------- worker side

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(system: str, length: int, depth: int):
    """A model and a step function that returns the loss after backward."""
    import torch
    from torch import nn

    tokens = torch.randint(5, VOCAB, (1, length))
    if system.startswith("genolong"):
        from genolong.models import Encoder, EncoderConfig, MaskedLMHead

        cfg = EncoderConfig(vocab_size=VOCAB, d_model=D, n_heads=HEADS, n_layers=depth, d_ff=FF,
                            attention=system.split("-")[1], bucket_size=BUCKET, n_hashes=HASHES,
                            attention_window=WINDOW, reversible=True, ff_chunks=max(1, length // 4096))
        enc, head = Encoder(cfg), MaskedLMHead(D, VOCAB)
        params = [*enc.parameters(), *head.parameters()]

        def step():
            loss = nn.functional.cross_entropy(head(enc(tokens)).view(-1, VOCAB), tokens.view(-1))
            loss.backward()
            return loss
    elif system == "lucidrains-reformer":
        from reformer_pytorch import ReformerLM

        model = ReformerLM(num_tokens=VOCAB, dim=D, depth=depth, max_seq_len=length, heads=HEADS,
                           dim_head=D // HEADS, bucket_size=BUCKET, n_hashes=HASHES, ff_mult=FF // D,
                           ff_chunks=max(1, length // 4096), causal=False)
        params = list(model.parameters())

        def step():
            loss = nn.functional.cross_entropy(model(tokens).view(-1, VOCAB), tokens.view(-1))
            loss.backward()
            return loss
    elif system == "hf-reformer":
        from transformers import ReformerConfig, ReformerForMaskedLM

        cfg = ReformerConfig(vocab_size=VOCAB, hidden_size=D, num_attention_heads=HEADS,
                             attention_head_size=D // HEADS, feed_forward_size=FF,
                             attn_layers=["lsh"] * depth, lsh_attn_chunk_length=BUCKET,
                             num_hashes=HASHES, is_decoder=False, max_position_embeddings=length,
                             axial_pos_shape=_axial(length), axial_pos_embds_dim=(64, D - 64),
                             hidden_dropout_prob=0.0, lsh_attention_probs_dropout_prob=0.0,
                             local_attention_probs_dropout_prob=0.0, chunk_size_feed_forward=0,
                             pad_token_id=0)
        model = ReformerForMaskedLM(cfg)
        params = list(model.parameters())

        def step():
            loss = model(input_ids=tokens, labels=tokens).loss
            loss.backward()
            return loss
    elif system == "hf-longformer":
        from transformers import LongformerConfig, LongformerForMaskedLM

        cfg = LongformerConfig(vocab_size=VOCAB, hidden_size=D, num_attention_heads=HEADS,
                               intermediate_size=FF, num_hidden_layers=depth,
                               attention_window=2 * WINDOW, max_position_embeddings=length + 2,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                               pad_token_id=0)
        model = LongformerForMaskedLM(cfg)
        params = list(model.parameters())

        def step():
            loss = model(input_ids=tokens, labels=tokens).loss
            loss.backward()
            return loss
    else:
        raise SystemExit(f"unknown system {system}")
    return params, step


def _axial(length: int) -> tuple[int, int]:
    a = 1 << ((length.bit_length() - 1) // 2)
    return a, length // a


def _gemm_gflops(n: int = 1024, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if spec["system"] == "matmul":
        n = 2048
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        print(json.dumps({"gflops": 2 * n ** 3 / min(times) / 1e9}), flush=True)
        return
    params, step = _build(spec["system"], spec["length"], spec["depth"])
    base = _rss_mb()
    # the machine is shared: a matmul rate taken beside each configuration is the fair yardstick
    gemm = _gemm_gflops()
    times = []
    for i in range(spec["steps"] + 1):
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        # every step reports, so a run cut off by the time bound still says what it did
        print(json.dumps({"times": times, "peak_mb": _rss_mb() - base, "base_mb": base,
                          "gemm_gflops": gemm}), flush=True)


# ---------------------------------------------------------------------------- parent side

def run_one(spec: dict, env_extra: dict, timeout: float) -> dict:
    env = {**os.environ, **env_extra, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        out, err, status = proc.stdout, proc.stderr, "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, status = "", "timeout"
    lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    result = {**spec, "status": status}
    if lines:
        result.update(lines[-1])
    if status == "failed":
        result["error"] = (err.strip().splitlines() or ["?"])[-1][:200]
    return result


def step_seconds(r: dict) -> float | None:
    """Median of the timed steps; the first (warm-up) step counts only if it is all there is."""
    times = r.get("times") or []
    timed = sorted(times[1:]) or times
    return timed[len(timed) // 2] if timed else None


def model_gflop(system: str, length: int, depth: int) -> float | None:
    """FLOPs executed in one step: 3x the forward (forward + backward) plus the reversible
    recomputation of every layer's forward, plus the recomputed scores in our attention backward.
    Only for genolong, whose arithmetic we know exactly."""
    if not system.startswith("genolong"):
        return None
    kind = system.split("-")[1]
    dh = D // HEADS
    if kind == "lsh":
        proj, keys, hashes = 3 * D * D, 3 * BUCKET, HASHES
    elif kind == "sliding":
        proj, keys, hashes = 4 * D * D, 3 * WINDOW, 1
    else:
        proj, keys, hashes = 4 * D * D, length, 1
    attn = hashes * HEADS * keys * dh * 2  # q·k and p·v, MACs per token
    layer = proj + 2 * D * FF + attn
    head = D * D + D * VOCAB
    fwd = depth * layer + head
    macs = 3 * fwd + depth * layer + depth * attn / 2
    return 2 * macs * length / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="1024,4096,16384,65536")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--envs", default="default,tuned")
    ap.add_argument("--tuned-lengths", default="16384",
                    help="lengths also run in the tuned allocator env (all: every length)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per configuration")
    ap.add_argument("--depth-length", type=int, default=4096,
                    help="L of the depth 2 vs 12 comparison (0 to skip)")
    ap.add_argument("--json", default=None, help="write all results here")
    ap.add_argument("--markdown-from", default=None, metavar="JSON",
                    help="print the tables of a saved run as markdown and exit")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.markdown_from:
        print(markdown(json.loads(Path(args.markdown_from).read_text())))
        return 0

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    lengths = [int(x) for x in args.lengths.split(",")]
    systems = args.systems.split(",")
    envs = {"default": {}, "tuned": TUNED_ENV}
    env_names = args.envs.split(",")
    jobs = [("matmul", 0, DEPTH, e) for e in env_names[:1]]
    env_lengths = {e: lengths for e in env_names}
    if "tuned" in env_lengths and args.tuned_lengths != "all":
        env_lengths["tuned"] = [n for n in lengths if str(n) in args.tuned_lengths.split(",")]
    jobs += [(s, n, DEPTH, e) for e in env_names for n in env_lengths[e] for s in systems]
    if args.depth_length:
        jobs += [(s, args.depth_length, d, env_names[0]) for s in ("genolong-lsh",) for d in (2, 12)]
    results = []
    console = Console(width=200)
    with Progress(console=console) as progress:
        task = progress.add_task("benchmark", total=len(jobs))
        for system, length, depth, env in jobs:
            progress.update(task, description=f"{env:7s} {system} L={length} depth={depth}")
            spec = {"system": system, "length": length, "depth": depth, "steps": args.steps}
            r = run_one(spec, envs[env], args.timeout)
            r["env"] = env
            r["step_s"] = step_seconds(r)
            results.append(r)
            progress.advance(task)
            if args.json:
                # a run cut short still leaves every finished configuration on disk
                _write_json(args.json, {"partial": True, "results": results})

    matmul = next((r.get("gflops") for r in results if r["system"] == "matmul"), None)
    summary = {"matmul_gflops": matmul, "threads": 2, "timeout_s": args.timeout,
               "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])),
               "results": results}
    by = {(r["env"], r["system"], r["length"], r["depth"]): r for r in results}
    for env in env_names:
        table = Table(title=f"one training step, {env} allocator env (% matmul: of a 1024^2 GEMM "
                            f"timed in the same process; 2048^2 GEMM at start {matmul or 0:.0f} "
                            f"GFLOP/s)")
        for col in ("system", "L", "step s", "tokens/s", "peak MB", "GFLOP/s", "% matmul",
                    "x lucidrains tok/s", "x HF Reformer tok/s", "x HF Longformer tok/s",
                    "mem / lucidrains"):
            table.add_column(col, justify="right")
        for length in env_lengths[env]:
            for system in systems:
                r = by[(env, system, length, DEPTH)]
                s = r["step_s"]
                if s is None:
                    table.add_row(system, str(length), r["status"], *[""] * 8)
                    continue
                r["tokens_per_s"] = length / s
                gf = model_gflop(system, length, DEPTH)
                if gf:
                    r["gflops"] = gf / s
                    rate = r.get("gemm_gflops") or matmul
                    r["matmul_fraction"] = r["gflops"] / rate if rate else None
                ratios = []
                for peer in PEERS:
                    p = by.get((env, peer, length, DEPTH), {})
                    ps = p.get("step_s")
                    ratio = ps / s if ps else None
                    r[f"speedup_vs_{peer}"] = ratio
                    ratios.append(f"{ratio:.2f}" if ratio else "-")
                lp = by.get((env, "lucidrains-reformer", length, DEPTH), {}).get("peak_mb")
                r["mem_vs_lucidrains"] = r["peak_mb"] / lp if lp else None
                table.add_row(system, str(length), f"{s:.2f}" + ("" if r["status"] == "ok"
                                                                 else f" ({r['status']})"),
                              f"{length / s:,.0f}", f"{r['peak_mb']:.0f}",
                              f"{r.get('gflops', 0):.1f}" if gf else "-",
                              f"{100 * r['matmul_fraction']:.0f}%" if gf and matmul else "-",
                              *ratios,
                              f"{r['mem_vs_lucidrains']:.2f}" if lp else "-")
        console.print(table)
    env0 = env_names[0]
    for system in systems:
        a = by.get((env0, system, 16384, DEPTH), {}).get("peak_mb")
        b = by.get((env0, system, 65536, DEPTH), {}).get("peak_mb")
        if a and b:
            summary.setdefault("memory_growth_64k_over_16k", {})[system] = b / a
            console.print(f"memory growth 64k/16k, {system}: {b / a:.2f}x")
    if args.depth_length:
        d2 = by.get((env0, "genolong-lsh", args.depth_length, 2), {})
        d12 = by.get((env0, "genolong-lsh", args.depth_length, 12), {})
        if d2.get("peak_mb") and d12.get("peak_mb"):
            summary["depth_12_over_2_memory"] = d12["peak_mb"] / d2["peak_mb"]
            console.print(f"genolong-lsh L={args.depth_length}: depth 2 {d2['peak_mb']:.0f} MB, "
                          f"depth 12 {d12['peak_mb']:.0f} MB "
                          f"({summary['depth_12_over_2_memory']:.2f}x)")
    if args.json:
        _write_json(args.json, summary)
    return 0


def markdown(summary: dict) -> str:
    """The saved results as markdown tables, one per allocator environment."""
    def fmt(x, spec):
        return "-" if x is None else format(x, spec)

    lines = []
    envs = sorted({r["env"] for r in summary["results"] if "env" in r and r["system"] != "matmul"})
    for env in envs:
        lines += [f"**{env} allocator env**", "",
                  "| system | L | step s | tokens/s | peak MB | GFLOP/s | % GEMM | "
                  "x lucidrains | x HF Reformer | x HF Longformer | mem / lucidrains |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in summary["results"]:
            if r.get("env") != env or r["system"] == "matmul" or r["depth"] != DEPTH:
                continue
            s = r.get("step_s")
            status = "" if r["status"] == "ok" else f" ({r['status']})"
            if s is None:
                lines.append(f"| {r['system']} | {r['length']} | {r['status']} |" + " |" * 8)
                continue
            frac = r.get("matmul_fraction")
            lines.append(
                f"| {r['system']} | {r['length']} | {s:.2f}{status} | {r['length'] / s:,.0f} | "
                f"{r['peak_mb']:.0f} | {fmt(r.get('gflops'), '.1f')} | "
                f"{'-' if frac is None else f'{100 * frac:.0f}%'} | "
                + " | ".join(fmt(r.get(f"speedup_vs_{p}"), ".2f") for p in PEERS)
                + f" | {fmt(r.get('mem_vs_lucidrains'), '.2f')} |")
        lines.append("")
    return "\n".join(lines)


def _write_json(path: str, data: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from genolong.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
