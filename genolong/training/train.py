"""Training entry point: `train(cfg) -> dict` holds the logic; `main()` is the Hydra wrapper
installed as the `genolong-train` console script.

Run directory layout (`hydra.run.dir=...` fixes it):
    checkpoints/best.ckpt   best monitored validation score
    checkpoints/last.ckpt   latest state, for `ckpt_path=last`
    metrics.json            final and best values (keys documented in README "## Training")
    csv/metrics.csv         the CSV logger's per-step log
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from genolong.errors import GenolongError

CONF_ENV = "GENOLONG_CONF"
ROOT_ENV = "GENOLONG_ROOT"
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.txt"


def conf_dir() -> Path:
    """The top-level `conf/` of the repository genolong is installed from (editable install)."""
    override = os.environ.get(CONF_ENV)
    candidate = Path(override) if override else Path(__file__).resolve().parents[2] / "conf"
    if not (candidate / "train.yaml").is_file():
        raise GenolongError(
            f"{candidate}: Hydra config folder not found (no train.yaml); genolong-train needs the "
            f"repository's conf/ (install with `pip install -e .` from a clone, or set {CONF_ENV})"
        )
    return candidate


def compose_config(overrides: Iterable[str] = (), output_dir: str | os.PathLike | None = None):
    """The composed training config, as `genolong-train <overrides>` would see it (for tests and
    plain Python). `output_dir` replaces Hydra's run directory."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    conf = conf_dir()
    os.environ.setdefault(ROOT_ENV, str(conf.parent))
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def resolve_monitor(cfg, multilabel: bool) -> None:
    """`task.monitor: auto` -> the headline validation metric of the label scheme."""
    from omegaconf import open_dict

    if cfg.task.monitor == "auto":
        with open_dict(cfg):
            cfg.task.monitor = "val/auprc_micro" if multilabel else "val/macro_f1"
            cfg.task.mode = "max"


def class_weights(cfg, datamodule) -> list[float] | None:
    weights = cfg.task.get("class_weights")
    if weights is None or cfg.task.name != "annotate" or datamodule.multilabel:
        return None
    if weights == "balanced":
        import numpy as np

        freq = datamodule.class_frequencies("train")
        present = freq > 0
        balanced = np.where(present, 1.0 / (present.sum() * np.maximum(freq, 1e-12)), 0.0)
        return [float(w) for w in balanced]
    return [float(w) for w in weights]


def structure_class_weights(cfg, datamodule) -> list[float] | None:
    """`task.structure_class_weights`: null, "sqrt" (1/sqrt of each class's train share, scaled so
    the tokens' mean weight is 1: the rare RNA classes, a few tokens in a thousand, count ~10x more
    per token, the common ones about as before) or one weight per structure class."""
    weights = cfg.task.get("structure_class_weights")
    if weights is None or not datamodule.with_structure:
        return None
    if weights == "sqrt":
        import numpy as np

        freq = datamodule.structure_frequencies("train")
        raw = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-12)), 0.0)
        return [float(w) for w in raw / max(float((raw * freq).sum()), 1e-12)]
    if isinstance(weights, str):
        raise GenolongError(f"task.structure_class_weights: {weights!r}: expected null, sqrt or a list of weights")
    return [float(w) for w in weights]


def build(node, **kwargs):
    """`hydra.utils.instantiate`, with a config mistake reported as one GenolongError line."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, GenolongError):
            raise cause from None
        where = node._get_full_key(None) if hasattr(node, "_get_full_key") else ""
        detail = str(cause or exc).strip().splitlines()
        raise GenolongError(f"config {where or '?'}: {type(cause or exc).__name__}: "
                            f"{detail[0] if detail else ''}") from None


def _instantiate_all(group) -> list:
    if not group:
        return []
    return [build(node) for node in group.values() if node is not None and "_target_" in node]


def _number(cfg, key: str, kind: type, low: float | None = None, allow_null: bool = False):
    """`cfg.<key>` as `kind`, or GenolongError naming the key: a typo in an override (`seed=abc`,
    `optimizer.lr=nan`) is one line, not a traceback from deep in torch."""
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=None)
    if value is None and allow_null:
        return None
    try:
        number = kind(value)
        if kind is int and (isinstance(value, bool) or number != float(value)):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise GenolongError(f"config {key}: expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if not math.isfinite(number):
        raise GenolongError(f"config {key}: must be finite, got {value!r}")
    if low is not None and number < low:
        raise GenolongError(f"config {key}: must be >= {low}, got {value!r}")
    return number


def check_config(cfg) -> None:
    """Refuse the scalar settings that would otherwise fail as a traceback once training starts."""
    from omegaconf import OmegaConf

    _number(cfg, "seed", int, low=0)
    _number(cfg, "torch_threads", int, low=1, allow_null=True)
    if OmegaConf.select(cfg, "optimizer.lr", default=None) is not None:
        lr = _number(cfg, "optimizer.lr", float, low=0)
        if lr == 0:
            raise GenolongError("config optimizer.lr: must be > 0, got 0")
    _number(cfg, "optimizer.weight_decay", float, low=0, allow_null=True)
    for key in ("data.window", "data.batch_size", "data.batches_per_epoch"):
        _number(cfg, key, int, low=1)


def check_resume(path: str, module) -> None:
    """A checkpoint to resume from must be readable and hold weights of this run's network shape;
    Lightning would otherwise fail with a torch error several screens long."""
    from genolong.training.checkpoint import STATE_KEY, read_checkpoint

    state = read_checkpoint(path)[STATE_KEY]
    own = module.state_dict()
    missing = [key for key in own if key not in state]
    shape = [key for key in own if key in state and tuple(state[key].shape) != tuple(own[key].shape)]
    if missing or shape:
        key = (missing or shape)[0]
        what = "lacks" if missing else f"has shape {tuple(state[key].shape)} for"
        raise GenolongError(f"{path}: ckpt_path: checkpoint is of another model: it {what} {key}"
                            f"{'' if missing else f', this run expects {tuple(own[key].shape)}'} "
                            f"({len(missing)} weights missing, {len(shape)} of another shape)")


def _resume_path(cfg, ckpt_dir: Path) -> str | None:
    ckpt = cfg.get("ckpt_path")
    if ckpt is None:
        return None
    if str(ckpt) == "last":
        last = ckpt_dir / "last.ckpt"
        if last.is_file():
            return str(last)
        print(f"genolong-train: ckpt_path=last: no {last} yet, starting from scratch", file=sys.stderr)
        return None
    if not Path(str(ckpt)).is_file():
        raise GenolongError(f"{ckpt}: ckpt_path: no such checkpoint file")
    return str(ckpt)


def resolve_store(cfg) -> None:
    """Pick the token stores: `data.store_dir` (one or a list), made first when missing; with no
    store given at all, the embedded default genome's (`default_store:`), prepared on first use.

    One store is made by `prepare:` (prepare()'s keyword arguments; null: it must exist). A list is
    made by `prepare_genomes:`, store by store (genome_path, annotation_path, labels, split), the
    rest from `prepare:` (prepare()'s defaults when null); every store after the first takes the
    first's function vocabulary (`vocab`), so the stores of a run agree.
    """
    from omegaconf import OmegaConf, open_dict

    from genolong.data.prepare import ensure_store
    from genolong.training.datamodule import store_list

    options = cfg.get("prepare")
    if cfg.data.get("store_dir") in (None, "???"):
        default = cfg.default_store
        print(f"genolong-train: no data.store_dir given; training on the embedded default genome "
              f"({default.prepare.genome_path}) in {default.store_dir}", file=sys.stderr)
        with open_dict(cfg):
            cfg.data.store_dir = default.store_dir
        options = default.prepare
    options = OmegaConf.to_container(options, resolve=True) if options else None
    stores = store_list(cfg.data.store_dir)
    per_store = OmegaConf.to_container(cfg.prepare_genomes, resolve=True) if cfg.get("prepare_genomes") else None
    if per_store is None:
        for store in stores:
            ensure_store(store, options if len(stores) == 1 else None)
        return
    if len(per_store) != len(stores):
        raise GenolongError(f"prepare_genomes: {len(per_store)} entries for {len(stores)} stores in data.store_dir")
    for i, (store, own) in enumerate(zip(stores, per_store)):
        kwargs = {**(options or {}), **{k: v for k, v in own.items() if v is not None}}
        if i > 0 and "vocab" not in kwargs:
            kwargs["vocab"] = str(Path(stores[0]) / "labels.json")
        ensure_store(store, kwargs)


def build_module(cfg, datamodule):
    """The LightningModule for `cfg`, with a network sized to the store's tokenizer and labels."""
    from genolong.training.module import GenoLongModule
    from genolong.models.net import build_net

    task = cfg.task.name
    tokenizer = datamodule.tokenizer
    encoder_config = build(cfg.model, vocab_size=int(tokenizer.vocab_size), pad_id=int(tokenizer.pad_id))
    n_outputs = int(tokenizer.vocab_size) if task == "mlm" else int(datamodule.n_outputs)
    structure_weight = float(cfg.task.get("structure_weight", 0.0))
    structure = datamodule.structure_labels if task == "annotate" and structure_weight > 0 else None
    net = build_net(encoder_config, task, n_outputs, structure.n_outputs if structure else 0)
    codes = set(datamodule.transl_tables)
    module = GenoLongModule(
        net=net,
        task=task,
        encoder_config=dataclasses.asdict(encoder_config),
        tokenizer=tokenizer.to_dict(),
        labels=datamodule.labels.to_dict(),
        n_outputs=n_outputs,
        optimizer=build(cfg.optimizer),
        scheduler=build(cfg.scheduler) if cfg.get("scheduler") else None,
        class_weights=class_weights(cfg, datamodule),
        mask_prob=float(cfg.task.get("mask_prob", 0.15)),
        seed=int(cfg.seed),
        rc_average=bool(cfg.task.get("rc_average", False)),
        structure_labels=structure.to_dict() if structure else None,
        structure_weight=structure_weight,
        structure_class_weights=structure_class_weights(cfg, datamodule),
        function_weight=float(cfg.task.get("function_weight", 1.0)),
        # one code for every training genome, else none: annotate then needs --transl-table
        transl_table=codes.pop() if len(codes) == 1 else None,
        window=int(datamodule.window),
    )
    if cfg.task.get("pretrained"):
        module.load_pretrained_encoder(str(cfg.task.pretrained))
    return module


def prior_baseline(datamodule, split: str = "val") -> dict:
    """The scores of predicting each output's training base rate: the term-frequency prior for
    GO, the class-frequency prior (always the majority class) for single-label schemes."""
    import numpy as np
    import torch
    from torchmetrics.functional.classification import (
        multiclass_f1_score,
        multilabel_average_precision,
    )

    from genolong.data.labels import UNKNOWN

    freq = torch.tensor(datamodule.class_frequencies("train"), dtype=torch.float32)
    targets = [datamodule.targets(s) for s in datamodule.spans(split)]
    if not targets:
        return {}
    target = torch.from_numpy(np.concatenate(targets).astype(np.int64))
    if datamodule.multilabel:
        scores = freq[1:].expand(target.shape[0], -1)  # (N, T): every token gets the base rates
        n_terms = scores.shape[1]
        from genolong.training.module import macro_over_present

        micro = multilabel_average_precision(scores, target[:, 1:], n_terms, average="micro", ignore_index=UNKNOWN)
        per_term = multilabel_average_precision(scores, target[:, 1:], n_terms, average=None, ignore_index=UNKNOWN)
        macro = macro_over_present(per_term, (target[:, 1:] == 1).sum(dim=0))
        return {"auprc_micro": float(torch.nan_to_num(micro)), "auprc_macro": float(torch.nan_to_num(macro))}
    target = target[target != UNKNOWN]
    preds = torch.full_like(target, int(freq.argmax()))
    return {"macro_f1": float(multiclass_f1_score(preds, target, datamodule.n_outputs, average="macro"))}


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def train(cfg) -> dict:
    """Fit one model as `cfg` describes; return (and write to `<run dir>/metrics.json`) its results."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from genolong.atomic import atomic_write_text
    from genolong.training.callbacks import AtomicCheckpointIO, ThroughputMonitor, peak_memory_mb

    check_config(cfg)
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    ckpt_dir = output_dir / "checkpoints"
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    if cfg.get("torch_threads"):
        import torch

        torch.set_num_threads(int(cfg.torch_threads))

    resolve_store(cfg)
    datamodule = build(cfg.data)
    resolve_monitor(cfg, datamodule.multilabel)
    module = build_module(cfg, datamodule)

    callbacks = _instantiate_all(cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):
        from pytorch_lightning.callbacks import ProgressBar

        callbacks = [cb for cb in callbacks if not isinstance(cb, ProgressBar)]
    fast_dev_run = bool(cfg.trainer.get("fast_dev_run"))
    if fast_dev_run:  # debug=fdr promises no checkpoint; Lightning's save_last still wrote one
        callbacks = [cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]
    loggers = _instantiate_all(cfg.get("logger"))
    trainer = build(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                          plugins=[AtomicCheckpointIO()])
    resume = _resume_path(cfg, ckpt_dir)
    if resume is not None:
        check_resume(resume, module)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except GenolongError as exc:
        last = ckpt_dir / "last.ckpt"
        kept = f"; last good checkpoint: {last}" if last.is_file() else "; no checkpoint was written"
        raise GenolongError(f"{exc}{kept}") from None
    if trainer.interrupted:
        raise GenolongError("training was interrupted")
    if not fast_dev_run:
        trainer.save_checkpoint(ckpt_dir / "last.ckpt", weights_only=False)

    best_cb = next((cb for cb in trainer.checkpoint_callbacks
                    if isinstance(cb, ModelCheckpoint) and cb.monitor == cfg.task.monitor), None)
    throughput = next((cb for cb in trainer.callbacks if isinstance(cb, ThroughputMonitor)), None)
    best_score = _float(best_cb.best_model_score) if best_cb is not None and best_cb.best_model_score is not None else None
    best_path = best_cb.best_model_path if best_cb is not None and best_cb.best_model_path else ""
    if best_cb is not None and not best_path and not fast_dev_run:
        print(f"genolong-train: no validation ran (trainer.max_steps={cfg.trainer.max_steps} ends before "
              f"data.batches_per_epoch={cfg.data.batches_per_epoch}), so there is no best.ckpt; "
              f"last.ckpt holds the final weights", file=sys.stderr)

    final = {k: _float(v) for k, v in trainer.callback_metrics.items() if _float(v) is not None}
    test_metrics = {}
    if cfg.get("test") and not fast_dev_run:
        tested = trainer.test(module, datamodule=datamodule, ckpt_path=best_path or None, weights_only=True,
                              verbose=False)
        test_metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}

    result = {
        "task": cfg.task.name,
        "attention": str(cfg.model.attention),
        "labels": datamodule.labels.scheme,
        "monitor": cfg.task.monitor,
        "mode": cfg.task.mode,
        "best_score": best_score,
        "global_step": int(trainer.global_step),
        "epochs": int(trainer.current_epoch),
        "tokens_per_s": throughput.tokens_per_s if throughput is not None else None,
        "peak_mem_mb": peak_memory_mb(module.device),
        "seconds": time.perf_counter() - started,
        "best_checkpoint": best_path,
        "last_checkpoint": str(ckpt_dir / "last.ckpt") if not fast_dev_run else "",
        "final": final,
        "test": test_metrics,
        "prior": prior_baseline(datamodule) if cfg.task.name == "annotate" and not fast_dev_run else {},
        "store_dir": datamodule.store_dirs[0] if len(datamodule.store_dirs) == 1 else datamodule.store_dirs,
        "output_dir": str(output_dir),
    }
    if trainer.is_global_zero:
        atomic_write_text(output_dir / METRICS_FILE, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def _record_failure(cfg, exc: BaseException) -> float:
    """A failed sweep job: leave its error beside its outputs for the sweep summary, and let the
    sweep go on (Hydra's sweepers abort the whole sweep on a raised exception)."""
    from genolong.atomic import atomic_write_text

    lines = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
    print(f"genolong-train: job failed: {message}", file=sys.stderr)
    atomic_write_text(Path(cfg.paths.output_dir) / ERROR_FILE, message + "\n")
    return float("nan")


def _check_overrides(argv: list[str]) -> None:
    """Compose the config once before Hydra does, so an override it cannot apply (an unknown key,
    a missing config, bad syntax) is one line and exit 2, not Hydra's several-line report. Runs
    with flags (`-m`, `--cfg`, ...) are left to Hydra, as are overrides of Hydra's own settings."""
    if any(arg.startswith("-") for arg in argv):
        return
    overrides = [arg for arg in argv if not arg.lstrip("+~").startswith("hydra")]
    try:
        compose_config(overrides)
    except GenolongError:
        raise
    except Exception as exc:  # hydra's and omegaconf's composition errors have no common base
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()][:1]
        cause = exc.__cause__
        if cause is not None and str(cause).strip():
            lines.append(str(cause).strip().splitlines()[0].strip())
        message = " ".join(dict.fromkeys(lines)) or type(exc).__name__
        print(f"genolong-train: error: overrides {' '.join(overrides)}: {message}", file=sys.stderr)
        raise SystemExit(GenolongError.exit_code) from None


def main() -> None:
    try:
        conf = conf_dir()
    except GenolongError as exc:
        print(f"genolong-train: error: {exc}", file=sys.stderr)
        raise SystemExit(GenolongError.exit_code) from None
    os.environ.setdefault(ROOT_ENV, str(conf.parent))
    _check_overrides(sys.argv[1:])

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    @hydra.main(version_base="1.3", config_path=str(conf), config_name="train")
    def _main(cfg) -> float | None:
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
        try:
            result = train(cfg)
        except GenolongError as exc:
            if multirun:
                return _record_failure(cfg, exc)
            print(f"genolong-train: error: {exc}", file=sys.stderr)
            raise SystemExit(GenolongError.exit_code) from None
        except Exception as exc:
            if multirun:
                logging.getLogger("genolong.training.train").exception("job failed")
                return _record_failure(cfg, exc)
            raise
        return result["best_score"]

    _main()


if __name__ == "__main__":
    main()
