"""Training throughput per model on this machine: tokens/s and peak memory of `train(cfg)`.

    python benchmarks/train_throughput.py --store results/stores/mycoides_GM12_go --steps 60 \
        --json benchmarks/train_throughput.json

Each model runs the demo experiment's settings (the same window, batch and size) for `--steps`
optimizer steps, through the real Lightning Trainer; tokens/s counts real tokens and includes
data loading, as in `metrics.json`. Prints a table and writes JSON. Peak memory is the process's
peak so far (RSS on the CPU), so with several models only the first row's is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

MODELS = ("reformer", "longformer", "transformer")


def run(store: str, model: str, steps: int, threads: int, window: int | None, out: Path) -> dict:
    from genolong.training.train import compose_config, train

    overrides = [
        "experiment=demo",
        f"data.store_dir={store}",
        f"model={model}",
        f"trainer.max_steps={steps}",
        f"data.batches_per_epoch={steps}",
        f"torch_threads={threads}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    if window:
        overrides.append(f"data.window={window}")
    result = train(compose_config(overrides, output_dir=out))
    return {
        "model": model,
        "attention": result["attention"],
        "window": window,
        "steps": result["global_step"],
        "tokens_per_s": round(result["tokens_per_s"], 1),
        "peak_mem_mb": round(result["peak_mem_mb"], 1),
        "seconds": round(result["seconds"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="token store (genolong prepare)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--window", type=int, default=None, help="tokens per window (default: the demo's)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            rows.append(run(args.store, model, args.steps, args.threads, args.window, Path(tmp) / model))
    header = f"{'model':<12} {'attention':<9} {'steps':>5} {'tokens/s':>10} {'peak MB':>9} {'seconds':>8}"
    print(header)
    for r in rows:
        print(f"{r['model']:<12} {r['attention']:<9} {r['steps']:>5} {r['tokens_per_s']:>10.0f} "
              f"{r['peak_mem_mb']:>9.0f} {r['seconds']:>8.1f}")
    if args.json:
        from genolong.atomic import atomic_write_text

        meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                "threads": args.threads, "load_average": os.getloadavg()}
        atomic_write_text(args.json, json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
