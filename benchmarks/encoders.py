"""Encoder benchmark: one training step of genolong's encoders against the public ones.

    python benchmarks/encoders.py [--lengths 16384,65536,262144,1048576] [--json PATH]
    python benchmarks/encoders.py --device cuda --batches 16384:1,32;65536:1,8   # training load too

One step = forward + backward of cross-entropy over every token through a 4101-way head;
batch 1 (or the --batches sizes: the training load, every system at the same batch), d=256, 4 heads, FF 1024, depth 4, LSH bucket 64 x 4 hashes, 2 threads. genolong runs
its head and loss through `chunked_linear_loss` (4096 positions of logits at a time); the peers
make all L x 4101 logits. Every configuration runs in a fresh subprocess (peak RSS is measured
there, above the baseline after the model is built) and gives up after --timeout seconds
(scaled with L). The peers come from the `bench` extra (reformer-pytorch, transformers).
Two allocator environments: glibc's default - where genolong still applies its own `mallopt`
set-up at import, as for every user, and `genolong-lsh-nomallopt` shows it without - and the
tuned one (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1e11 for every system, genolong's own
set-up off so the variables rule for all alike). "% of FLOP floor" is genolong's arithmetic for
the system's attention kind at the rate of a 1024^2 GEMM timed in the same process, divided by
the step time.
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
SYSTEMS = ("genolong-lsh", "genolong-lsh-nomallopt", "genolong-sliding", "genolong-full",
           "lucidrains-reformer", "hf-reformer", "hf-longformer")
# the attention each system computes: its FLOP floor is genolong's arithmetic for that kind
KIND = {"genolong-lsh": "lsh", "genolong-lsh-nomallopt": "lsh", "genolong-sliding": "sliding",
        "genolong-full": "full", "lucidrains-reformer": "lsh", "hf-reformer": "lsh",
        "hf-longformer": "sliding"}
PEERS = ("lucidrains-reformer", "hf-reformer", "hf-longformer")
TUNED_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


# ---------------------------------------------------------------------------- worker side

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(system: str, length: int, depth: int, device: str = "cpu", batch: int = 1):
    """A model and a step function that returns the loss after backward. On CUDA every system
    runs under bf16 autocast (what `trainer=gpu` does); on CPU in float32."""
    import contextlib

    import torch
    from torch import nn

    tokens = torch.randint(5, VOCAB, (batch, length), device=device)  # (batch, L)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" \
        else contextlib.nullcontext()
    system = system.removesuffix("-nomallopt")  # the same model, GENOLONG_MALLOC_TUNE=0 (run_one)
    if system.startswith("genolong"):
        # importing genolong.models applies its allocator set-up (unless GENOLONG_MALLOC_TUNE=0)
        from genolong.models import Encoder, EncoderConfig, MaskedLMHead, chunked_linear_loss

        cfg = EncoderConfig(vocab_size=VOCAB, d_model=D, n_heads=HEADS, n_layers=depth, d_ff=FF,
                            attention=system.split("-")[1], bucket_size=BUCKET, n_hashes=HASHES,
                            attention_window=WINDOW, reversible=True, ff_chunks=max(1, length // 4096))
        enc, head = Encoder(cfg).to(device), MaskedLMHead(D, VOCAB).to(device)
        params = [*enc.parameters(), *head.parameters()]

        def loss_sum(logits, targets):
            return nn.functional.cross_entropy(logits.float(), targets, reduction="sum")

        def step():
            # the same loss as the peers', with the 4101-way logits made 4096 positions at a time
            with amp:
                features = head.features(enc(tokens)).view(-1, D)
                loss = chunked_linear_loss(features, head.output, tokens.view(-1), loss_sum) / tokens.numel()
            loss.backward()
            return loss
    elif system == "lucidrains-reformer":
        from reformer_pytorch import ReformerLM

        model = ReformerLM(num_tokens=VOCAB, dim=D, depth=depth, max_seq_len=length, heads=HEADS,
                           dim_head=D // HEADS, bucket_size=BUCKET, n_hashes=HASHES, ff_mult=FF // D,
                           ff_chunks=max(1, length // 4096), causal=False).to(device)
        params = list(model.parameters())

        def step():
            with amp:
                logits = model(tokens).view(-1, VOCAB)
            loss = nn.functional.cross_entropy(logits.float(), tokens.view(-1))
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
        model = ReformerForMaskedLM(cfg).to(device)
        params = list(model.parameters())

        def step():
            with amp:
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
        model = LongformerForMaskedLM(cfg).to(device)
        params = list(model.parameters())

        def step():
            with amp:
                loss = model(input_ids=tokens, labels=tokens).loss
            loss.backward()
            return loss
    else:
        raise SystemExit(f"unknown system {system}")
    return params, step


def _axial(length: int) -> tuple[int, int]:
    a = 1 << ((length.bit_length() - 1) // 2)
    return a, length // a


def _gemm_gflops(n: int = 1024, reps: int = 5, device: str = "cpu") -> float:
    """The yardstick: float32 GEMM on CPU, bf16 GEMM (n = 8192) on CUDA."""
    import torch

    if device == "cuda":
        n = 8192
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if spec["system"] == "matmul":
        print(json.dumps({"gflops": _gemm_gflops(2048, device=spec.get("device", "cpu"))}),
              flush=True)
        return
    device = spec.get("device", "cpu")
    params, step = _build(spec["system"], spec["length"], spec["depth"], device, spec.get("batch", 1))
    base = _rss_mb()
    if device == "cuda":
        base_gpu = torch.cuda.memory_allocated() / 2 ** 20
        torch.cuda.reset_peak_memory_stats()
    # the machine is shared: a matmul rate taken beside each configuration is the fair yardstick
    gemm = _gemm_gflops(device=device)
    times = []
    for i in range(spec["steps"] + 1):
        for p in params:
            p.grad = None
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        report = {"times": times, "peak_mb": _rss_mb() - base, "base_mb": base,
                  "maxrss_mb": _rss_mb(), "gemm_gflops": gemm}
        if device == "cuda":
            # on the GPU the memory that matters is the device's: peak above the model
            peak_gpu = torch.cuda.max_memory_allocated() / 2 ** 20
            report.update(peak_mb=peak_gpu - base_gpu, maxrss_mb=peak_gpu, host_peak_mb=_rss_mb() - base)
        # every step reports, so a run cut off by the time bound still says what it did
        print(json.dumps(report), flush=True)


# ---------------------------------------------------------------------------- parent side

def run_one(spec: dict, env_extra: dict, timeout: float) -> dict:
    env = {**os.environ, **env_extra, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
           "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_OFFLINE": "1"}
    if env_extra or spec["system"].endswith("-nomallopt"):
        # in the tuned env the variables rule, for genolong exactly as for the peers
        env["GENOLONG_MALLOC_TUNE"] = "0"
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
        # a worker killed by a signal prints nothing: SIGKILL here is almost always the OOM killer
        killed = f"killed by signal {-proc.returncode}" + (" (out of memory?)" if proc.returncode == -9 else "")
        result["error"] = killed if proc.returncode < 0 else (err.strip().splitlines() or ["?"])[-1][:200]
    return result


def step_seconds(r: dict) -> float | None:
    """Median of the timed steps; the first (warm-up) step counts only if it is all there is."""
    times = r.get("times") or []
    timed = sorted(times[1:]) or times
    return timed[len(timed) // 2] if timed else None


def model_gflop(system: str, length: int, depth: int) -> float | None:
    """FLOPs genolong executes in one step of this system's attention kind: 3x the forward
    (forward + backward) plus the reversible recomputation of every layer's forward, plus the
    recomputed scores in attention backward. At the GEMM rate this is the step's FLOP floor."""
    kind = KIND.get(system)
    if kind is None:
        return None
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
    ap.add_argument("--lengths", default="16384,65536,262144,1048576")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--systems-at", default="65536:genolong-lsh,genolong-lsh-nomallopt,hf-reformer;"
                    "262144:genolong-lsh;1048576:genolong-lsh",
                    help="L:system,system;... - the systems run at those lengths (others: --systems)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: bf16 autocast, peak GPU memory instead of RSS (use --envs default)")
    ap.add_argument("--envs", default="default,tuned")
    ap.add_argument("--batches", default="",
                    help="L:B,B;... - batch sizes run at those lengths (default 1 everywhere); on a GPU the "
                         "training load is a batch that fills about half its memory")
    ap.add_argument("--tuned-lengths", default="16384",
                    help="lengths also run in the tuned allocator env (all: every length)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    ap.add_argument("--long-from", type=int, default=262144,
                    help="from this length on, one step only (the warm-up, reported as such)")
    ap.add_argument("--timeout", type=float, default=180.0,
                    help="seconds per configuration at 16k; scaled by L / 16384 above it")
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

    summary = {"threads": 2, "timeout_s": args.timeout, "device": args.device,
               # absolute paths name only their file: the saved run reads the same on any machine
               "command": " ".join([Path(sys.argv[0]).name] + [Path(a).name if a.startswith("/") else a
                                                              for a in (argv or sys.argv[1:])])}
    results = run_jobs(args, _jobs(args))
    summary["matmul_gflops"] = next((r.get("gflops") for r in results if r["system"] == "matmul"), None)
    summary["results"] = annotate_results(results)
    if args.json:
        _write_json(args.json, summary)
    print(markdown(summary))
    return 0


def _jobs(args) -> list[tuple[str, int, int, str, int]]:
    """(system, L, depth, env, batch) of every configuration, in the order they run."""
    lengths = [int(x) for x in args.lengths.split(",")]
    at = {int(k): v.split(",") for k, v in (p.split(":") for p in args.systems_at.split(";") if p)}
    batches = {int(k): [int(b) for b in v.split(",")] for k, v in (p.split(":") for p in args.batches.split(";") if p)}
    env_names = args.envs.split(",")
    jobs = [("matmul", 0, DEPTH, env_names[0], 1)]
    for env in env_names:
        for n in lengths:
            if env == "tuned" and args.tuned_lengths != "all" \
                    and str(n) not in args.tuned_lengths.split(","):
                continue
            systems = at.get(n, args.systems.split(","))
            if env == "tuned":  # mallopt off there already: the variant is the same run
                systems = [x for x in systems if not x.endswith("-nomallopt")]
            jobs += [(x, n, DEPTH, env, b) for b in batches.get(n, [1]) for x in systems]
    return jobs


def run_jobs(args, jobs) -> list[dict]:
    from rich.console import Console
    from rich.progress import Progress

    envs = {"default": {}, "tuned": TUNED_ENV}
    results = []
    with Progress(console=Console(stderr=True, width=160)) as progress:
        task = progress.add_task("benchmark", total=len(jobs))
        for system, length, depth, env, batch in jobs:
            progress.update(task, description=f"{env:7s} {system} L={length} batch={batch} depth={depth}")
            steps = 0 if length >= args.long_from else args.steps
            spec = {"system": system, "length": length, "depth": depth, "steps": steps,
                    "device": args.device, "batch": batch}
            r = run_one(spec, envs[env], args.timeout * max(1.0, batch * length / 16384))
            r["env"] = env
            r["step_s"] = step_seconds(r)
            results.append(r)
            progress.advance(task)
            if args.json:
                # a run cut short still leaves every finished configuration on disk
                _write_json(args.json, {"partial": True, "results": results})
    return results


def annotate_results(results: list[dict]) -> list[dict]:
    """Add tokens/s, the share of the FLOP floor and the ratios to the peers to every row."""
    by = {(r["env"], r["system"], r["length"], r["depth"], r.get("batch", 1)): r for r in results}
    for r in results:
        s = r.get("step_s")
        if r["system"] == "matmul" or s is None:
            continue
        r["tokens_per_s"] = r.get("batch", 1) * r["length"] / s
        gf = model_gflop(r["system"], r["length"], r["depth"])
        gf = None if gf is None else gf * r.get("batch", 1)
        if gf and r.get("gemm_gflops"):
            # the floor: this arithmetic at the GEMM rate measured in the same process
            r["floor_s"] = gf / r["gemm_gflops"]
            r["floor_share"] = r["floor_s"] / s
        for peer in PEERS:
            ps = by.get((r["env"], peer, r["length"], r["depth"], r.get("batch", 1)), {}).get("step_s")
            r[f"speedup_vs_{peer}"] = ps / s if ps else None
        lp = by.get((r["env"], "lucidrains-reformer", r["length"], r["depth"], r.get("batch", 1)), {})
        r["mem_vs_lucidrains"] = r["peak_mb"] / lp["peak_mb"] \
            if lp.get("step_s") and r.get("peak_mb") else None
    return results


def markdown(summary: dict) -> str:
    """The saved results as markdown tables, one per allocator environment."""
    def fmt(x, spec):
        return "-" if x is None else format(x, spec)

    lines = []
    envs = sorted({r["env"] for r in summary["results"] if "env" in r and r["system"] != "matmul"})
    for env in envs:
        mem = ("peak GPU MB above model | peak GPU GB" if summary.get("device") == "cuda"
               else "peak MB above model | max RSS GB")
        lines += [f"**{env} allocator env**" + (" (CUDA, bf16 autocast)"
                                                  if summary.get("device") == "cuda" else ""), "",
                  f"| system | L | batch | step s | tokens/s | {mem} | "
                  "% of FLOP floor | x lucidrains | x HF Reformer | x HF Longformer | "
                  "mem / lucidrains |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in summary["results"]:
            if r.get("env") != env or r["system"] == "matmul" or r["depth"] != DEPTH:
                continue
            s = r.get("step_s")
            if s is None:
                why = r["status"] + (f": {r['error']}" if r.get("error") else "")
                lines.append(f"| {r['system']} | {r['length']} | {r.get('batch', 1)} | {why} |" + " |" * 8)
                continue
            note = "" if r["status"] == "ok" else f" ({r['status']})"
            if len(r.get("times", [])) == 1:
                note += " (1 step)"
            share = r.get("floor_share")
            lines.append(
                f"| {r['system']} | {r['length']} | {r.get('batch', 1)} | {s:.2f}{note} | "
                f"{r.get('batch', 1) * r['length'] / s:,.0f} | "
                f"{r['peak_mb']:.0f} | {fmt(r.get('maxrss_mb', 0) / 1024, '.2f')} | "
                f"{'-' if share is None else f'{100 * share:.0f}%'} | "
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
