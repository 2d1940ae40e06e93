"""The context-length curve (issue 22, part 1): does a longer training window call genes better?

One recipe (`experiment=demo`: Reformer LSH, k=3, structure + GO heads on GM12 / mm5713 / B237)
trained at several windows with the same number of tokens seen (window x batch_size x max_steps
constant) and the same parameter count, each at several seeds; then, for each run:
1. optionally `genolong fit-function` (the per-gene function head and homology index);
2. `genolong annotate` the unseen genome (Afade) at the training window;
3. `genolong evaluate` it against its reference (no plots, no pyrodigal: they do not depend on the run).
Prints one table (mean and min-max over seeds per window), writes JSON (every command, every
figure) and a PNG plot.

`--memory-windows W` adds the segment-memory point of issue 22: `--memory-model` attention (LSH
layers cannot carry a memory) with `model.memory=W`, trained on samples of `--tokens-per-step / W`
consecutive W-token segments (batch 1, the same steps: the same tokens seen), annotated with
`--stream` (each record read once per strand, carrying the memory). `--keep-json FILE` keeps the
points of an earlier run of this script for every configuration not run now.

    python benchmarks/context_length.py --windows 512 4096 16384 --seeds 0 1 2 --fit-function \\
        --run-root /tmp/h6 --json benchmarks/context_length.json --plot benchmarks/context_length.png
    python benchmarks/context_length.py --windows 512 4096 16384 --seeds 0 1 2 --fit-function \\
        --run-root /tmp/h6 --collect-only        # re-read finished runs, run nothing
    python benchmarks/context_length.py --windows --memory-windows 512 --seeds 0 1 --fit-function \\
        --run-root /tmp/cl --keep-json benchmarks/context_length.json --json benchmarks/context_length.json \\
        --plot benchmarks/context_length.png   # the memory point beside the earlier windows

A step whose output already exists is not run again, so a stopped curve resumes where it was.
Every job runs under `nice` with one torch thread: the benchmark shares its machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
GENOME = DATA / "mycoides_Afade.fna.gz"
REFERENCE = DATA / "mycoides_Afade.gff3.gz"
STORES = ("mycoides_GM12", "mycoides_mm5713", "mycoides_B237")


def schedule(window: int, args: argparse.Namespace) -> tuple[int, int]:
    """(batch_size, max_steps) of a window: window x batch = --tokens-per-step for 1000 steps; a window longer
    than that takes batch 1 and proportionally fewer steps, so that every window sees the same tokens."""
    if window <= args.tokens_per_step:
        if args.tokens_per_step % window:
            raise SystemExit(f"--tokens-per-step {args.tokens_per_step} is not a multiple of window {window}")
        return args.tokens_per_step // window, args.steps
    seen = args.tokens_per_step * args.steps
    if seen % window:
        raise SystemExit(f"{seen} tokens seen is not a multiple of window {window}")
    return 1, seen // window


def config_name(window: int, memory: bool) -> str:
    return f"{window}+memory" if memory else str(window)


def point_dir(window: int, seed: int, memory: bool, args: argparse.Namespace) -> Path:
    return Path(args.run_root) / (f"w{window}m_s{seed}" if memory else f"w{window}_s{seed}")


def point_schedule(window: int, memory: bool, args: argparse.Namespace) -> tuple[int, int, int]:
    """(batch_size, max_steps, segments per sample): a memory point reads --tokens-per-step tokens per
    step as one sample of consecutive segments, so it sees what the tiled points see."""
    if not memory:
        return (*schedule(window, args), 1)
    if args.tokens_per_step % window:
        raise SystemExit(f"--tokens-per-step {args.tokens_per_step} is not a multiple of memory window {window}")
    return 1, args.steps, args.tokens_per_step // window


def point_commands(window: int, seed: int, args: argparse.Namespace, memory: bool = False) -> dict[str, list[str]]:
    """The commands of one (window, seed) point, in the order they run."""
    batch, steps, segments = point_schedule(window, memory, args)
    run_dir = point_dir(window, seed, memory, args)
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    store_root = Path(args.store_root or Path(args.run_root) / "stores")
    py = [sys.executable]
    recurrence = [f"model={args.memory_model}", f"model.memory={window}",
                  f"data.segments_per_sample={segments}"] if memory else []
    cmds = {
        "train": py + ["-m", "genolong.training.train", f"experiment={args.recipe}", *recurrence,
                       f"data.window={window}",
                       f"data.batch_size={batch}", f"trainer.max_steps={steps}",
                       f"data.batches_per_epoch={steps // args.validations}", f"seed={seed}",
                       f"torch_threads={args.threads}", f"hydra.run.dir={run_dir}",
                       f"paths.store_root={store_root}", "trainer.enable_progress_bar=false"],
    }
    if args.fit_function:
        cmds["fit-function"] = py + ["-m", "genolong", "fit-function", "--checkpoint", str(ckpt), "--store",
                                     *[str(store_root / args.recipe / s) for s in STORES],
                                     "--seed", str(seed), "--threads", str(args.threads), "--no-progress"]
    cmds["annotate"] = py + ["-m", "genolong", "annotate", "--checkpoint", str(ckpt), "--genome", str(GENOME),
                             "--annotation", str(REFERENCE), "--out", str(run_dir / "afade"),
                             "--threads", str(args.threads), "--no-progress"] \
        + (["--stream", "--window", str(window)] if memory else [])
    cmds["evaluate"] = py + ["-m", "genolong", "evaluate", "--pred", str(run_dir / "afade"), "--reference",
                             str(REFERENCE), "--genome", str(GENOME), "--out", str(run_dir / "eval"),
                             "--no-plots", "--prodigal", "off", "--threads", str(args.threads)]
    return cmds


def step_output(step: str, run_dir: Path) -> Path:
    """The file whose presence means a step is done."""
    return {"train": run_dir / "checkpoints" / "best.ckpt",
            "fit-function": run_dir / "checkpoints" / "gene_function.pt",
            "annotate": run_dir / "afade.gff3",
            "evaluate": run_dir / "eval" / "metrics.json"}[step]


def run_step(cmd: list[str], log: Path, nice: int) -> float:
    """Run one command under nice, appending its output to log; wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    full = ["nice", "-n", str(nice), *cmd]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(full) + "\n")
        fh.flush()
        t0 = time.perf_counter()
        done = subprocess.run(full, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}...: exit {done.returncode}; see {log}")
    return time.perf_counter() - t0


def checkpoint_facts(ckpt: Path) -> dict:
    """Learned parameters of the network (buffers, e.g. batch-norm statistics, left out), the window annotate
    reads by default, and the step the best checkpoint was taken at."""
    import torch

    loaded = torch.load(ckpt, map_location="cpu", weights_only=False)
    state = loaded["state_dict"]
    return {"parameters": sum(v.numel() for k, v in state.items()
                              if k.startswith("net.") and v.is_floating_point() and "running_" not in k),
            "annotate_window": loaded["hyper_parameters"].get("window"), "best_step": loaded.get("global_step")}


def pick(node: dict, path: str):
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# figure -> where it is in metrics.json. "function ..." are the per-gene function head's output (network +
# homology, `genolong fit-function`); "network alone" its network part, the part a window can change;
# "<90%" the genes whose best training homolog is below 90% identity (model.function.below_90)
PATHS = {
    "protein_coding_f1": "model.protein_coding.f1",
    "no_network_f1": "baselines.no network.protein_coding.f1",
    "exact_start": "model.protein_coding.exact_start",
    "no_network_exact_start": "baselines.no network.protein_coding.exact_start",
    "token_genic_f1": "model.token.genic_f1",
    "token_micro_auprc": "model.token.micro_auprc",
    "token_head_gene_fmax": "model.gene_token_head.fmax",
    "function_fmax": "model.gene.fmax",
    "function_fmax_lt90": "model.function.below_90.fmax",
    "network_alone_fmax": "function_systems.network alone.gene.fmax",
    "network_alone_fmax_lt90": "function_systems.network alone.function.below_90.fmax",
    "homologs_alone_fmax_lt90": "function_systems.homologs alone.function.below_90.fmax",
    "n_genes_lt90": "model.function.below_90.n_genes_with_go",
}


def read_point(run_dir: Path) -> dict:
    """The figures of one run from its evaluation's metrics.json."""
    m = json.loads((run_dir / "eval" / "metrics.json").read_text())
    out = {name: pick(m, path) for name, path in PATHS.items()}
    if m["model"].get("gene_token_head") is None:   # no function head fitted: model.gene is the token head's
        out["token_head_gene_fmax"] = out.pop("function_fmax")
    out["gain_f1"] = out["protein_coding_f1"] - out["no_network_f1"]
    out["function_bands"] = pick(m, "model.function.bands")
    return out


FIGURES = tuple(k for k in PATHS if k != "n_genes_lt90") + ("gain_f1",)


def point_config(p: dict) -> str:
    return p.get("config") or str(p["window"])


def summarise(points: list[dict]) -> dict[str, dict]:
    """Per configuration (window, or window+memory): mean, min and max over seeds of every figure."""
    by_config: dict[str, list[dict]] = {}
    for p in sorted(points, key=lambda p: (p["window"], bool(p.get("memory")))):
        by_config.setdefault(point_config(p), []).append(p)
    out = {}
    for name, ps in by_config.items():
        w = ps[0]["window"]
        row = {"seeds": [p["seed"] for p in ps], "window": w, "memory": ps[0].get("memory", 0), "bp": w * 3,
               "segments": ps[0].get("segments", 1), "batch_size": ps[0]["batch_size"],
               "steps": ps[0]["steps"],
               "parameters": sorted({p["parameters"] for p in ps}),
               # a train step run by hand before the script (so untimed) is left out of the mean
               "train_s": statistics.mean(t) if (t := [p["wall_s"]["train"] for p in ps if "train" in p["wall_s"]])
               else None}
        for f in FIGURES:
            vals = [p["figures"][f] for p in ps if p["figures"].get(f) is not None]
            if vals:
                row[f] = {"mean": statistics.mean(vals), "min": min(vals), "max": max(vals)}
        out[name] = row
    return out


def portable(arg) -> str:
    """A command argument as the JSON records it: `python` for this interpreter, paths inside the
    repository relative to it, so the file holds no path of the machine it ran on."""
    text = str(arg)
    if text == sys.executable:
        return "python"
    return text.replace(f"{REPO}/", "")


def table(summary: dict[int, dict]) -> str:
    cols = [("protein_coding_f1", "PC F1"), ("no_network_f1", "no-net F1"), ("gain_f1", "gain"),
            ("exact_start", "exact start"), ("token_micro_auprc", "token GO µAUPRC"),
            ("token_head_gene_fmax", "token-head gene Fmax"), ("network_alone_fmax", "function net alone Fmax"),
            ("network_alone_fmax_lt90", "net alone <90%"), ("function_fmax_lt90", "function output <90%")]
    lines = ["| window (tokens / kbp) | batch x steps | params | seeds | " + " | ".join(c for _, c in cols) + " |",
             "|---|---:|---:|---|" + "---:|" * len(cols)]
    for name, r in summary.items():
        cells = []
        for f, _ in cols:
            v = r.get(f)
            cells.append("—" if v is None else f"{v['mean']:.3f} ({v['min']:.3f}-{v['max']:.3f})")
        label = f"{r['window']} / {r['bp'] / 1000:.1f}" + (
            f" + memory {r['memory']}, {r['segments']} segments, --stream" if r.get("memory") else "")
        shape = f"{r['batch_size']} x {r['steps']}" if not r.get("memory") else f"1 x {r['segments']} x {r['steps']}"
        lines.append(f"| {label} | {shape} | {','.join(map(str, r['parameters']))} "
                     f"| {','.join(map(str, r['seeds']))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict[int, dict], points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("protein_coding_f1", "protein-coding F1"), ("gain_f1", "gain over no-network F1"),
              ("exact_start", "exact start"), ("token_head_gene_fmax", "gene GO Fmax, token head"),
              ("network_alone_fmax", "function head, network alone: Fmax"),
              ("network_alone_fmax_lt90", "... genes <90% identity")]
    panels = [p for p in panels if any(p[0] in r for r in summary.values())]
    ncol = 3
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    tiled = [name for name, r in summary.items() if not r.get("memory")]
    recurrent = [name for name, r in summary.items() if r.get("memory")]
    for ax, (f, title) in zip(axes.flat, panels):
        names = [n for n in tiled if f in summary[n]]
        ws = [summary[n]["window"] for n in names]
        ax.plot(ws, [summary[n][f]["mean"] for n in names], "o-", color="C0", label="tiled windows")
        for p in points:
            if p["figures"].get(f) is not None and not p.get("memory"):
                ax.plot(p["window"], p["figures"][f], ".", color="C1")
        for n in recurrent:  # drawn at the tokens one training sample spans
            r = summary[n]
            if f in r:
                x = r["window"] * r["segments"]
                ax.errorbar([x], [r[f]["mean"]], yerr=[[r[f]["mean"] - r[f]["min"]], [r[f]["max"] - r[f]["mean"]]],
                            fmt="*", color="C3", markersize=9, label=f"{r['window']} + memory (stream)")
        if f == "protein_coding_f1":
            ax.plot(ws, [summary[n]["no_network_f1"]["mean"] for n in names], "s--", color="grey",
                    label="no network")
            ax.legend(fontsize=6)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ws, [f"{w}\n{w * 3 / 1000:.1f} kbp" for w in ws], fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training window (tokens)", fontsize=8)
    fig.suptitle("experiment=demo on unseen Afade; same tokens seen and parameters (mean line, seeds dots)",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, nargs="*", default=[512, 4096])
    ap.add_argument("--memory-windows", type=int, nargs="*", default=[],
                    help="also train these windows with a segment memory of the same length, annotated with --stream")
    ap.add_argument("--memory-model", default="transformer", help="attention of the memory points (full or sliding)")
    ap.add_argument("--keep-json", default=None, help="keep this earlier JSON's points of configurations not run now")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--recipe", default="demo")
    ap.add_argument("--tokens-per-step", type=int, default=4096, help="window x batch_size, kept constant")
    ap.add_argument("--steps", type=int, default=1000, help="trainer.max_steps of windows up to --tokens-per-step")
    ap.add_argument("--validations", type=int, default=2, help="validations per run (data.batches_per_epoch)")
    ap.add_argument("--run-root", default="/tmp/genolong_context_length")
    ap.add_argument("--store-root", default=None, help="paths.store_root (default RUN_ROOT/stores)")
    ap.add_argument("--fit-function", action="store_true", help="fit the per-gene function head before annotate")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--collect-only", action="store_true", help="read finished runs, run nothing")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args(argv)

    points = []
    configs = [(w, False) for w in args.windows] + [(w, True) for w in args.memory_windows]
    for window, memory in configs:
        name = config_name(window, memory)
        for seed in args.seeds:
            run_dir = point_dir(window, seed, memory, args)
            cmds = point_commands(window, seed, args, memory)
            timing_path = run_dir / "context_length_timing.json"
            wall = json.loads(timing_path.read_text()) if timing_path.exists() else {}
            for step, cmd in cmds.items():
                if step_output(step, run_dir).exists():
                    continue
                if args.collect_only:
                    break
                print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}: {step}", flush=True)
                wall[step] = run_step(cmd, Path(args.run_root) / "logs" / f"{run_dir.name}.log", args.nice)
                timing_path.write_text(json.dumps(wall))
            if not step_output("evaluate", run_dir).exists():
                print(f"{name} seed {seed}: not finished, left out", flush=True)
                continue
            batch, steps, segments = point_schedule(window, memory, args)
            points.append({"window": window, "seed": seed, "config": name, "memory": window if memory else 0,
                           "segments": segments, "batch_size": batch, "steps": steps,
                           "tokens_seen": window * segments * batch * steps,
                           **checkpoint_facts(step_output("train", run_dir)),
                           "wall_s": wall, "commands": {k: " ".join(["nice", "-n", str(args.nice), *map(portable, v)])
                                                        for k, v in cmds.items()},
                           "figures": read_point(run_dir)})
    if args.keep_json:
        run_now = {config_name(w, m) for w, m in configs}
        points += [p for p in json.loads(Path(args.keep_json).read_text())["points"] if point_config(p) not in run_now]
    if not points:
        raise SystemExit("no finished run")
    summary = summarise(points)
    print(table(summary))
    if args.json:
        doc = {"what": "context-length curve, issue 22 part 1", "recipe": args.recipe, "genome": str(GENOME.name),
               "reference": str(REFERENCE.name), "tokens_per_step": args.tokens_per_step, "steps": args.steps,
               "fit_function": args.fit_function, "env": "PYTHONPATH=<repo> OMP_NUM_THREADS=1",
               "summary": summary, "points": points,
               "markdown": table(summary)}
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, args.json)
    if args.plot:
        plot(summary, points, Path(args.plot))


if __name__ == "__main__":
    main()
