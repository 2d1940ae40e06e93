"""`GenoLongModule`: loss, metrics, optimisation and checkpoint hyperparameters around a `net`.

Tasks:
- `annotate` with a single-label vocabulary: cross-entropy (optional class weights) over tokens;
  metrics `val/macro_f1`, `val/mcc`.
- `annotate` with the multilabel GO vocabulary: BCE over the genic bit and the kept terms; term
  entries marked UNKNOWN (255) carry no loss; metrics `val/auprc_micro`, `val/auprc_macro`
  (over the terms) and `val/genic_f1`.
- `mlm`: masked-LM pretraining (BERT 80/10/10 corruption of `mask_prob` of the real tokens).
- `annotate` with `structure_labels` (the store's structure vocabulary): a second head on the same
  encoder; loss `function_weight * function loss + structure_weight * cross-entropy over the
  structure classes`; metrics `val/structure_macro_f1` and `val/structure_frame_acc` (tokens of
  protein-coding genes given exactly their strand and codon position). The logits are function
  columns then structure columns (`TokenNet`).

The hyperparameters saved in every checkpoint are plain types (encoder config dict, tokenizer dict,
label vocabulary dict, task, output width), so `GenoLongModule.load_from_checkpoint(path)` and
`genolong.training.checkpoint.load_checkpoint(path)` rebuild the network without pickled objects.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch import nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassMatthewsCorrCoef,
    MultilabelAveragePrecision,
)

from genolong.errors import GenolongError
from genolong.data.labels import IGNORE_INDEX, UNKNOWN, LabelVocab, joint_strand_swap
from genolong.data.store import check_compatible
from genolong.models.encoder import context_mean
from genolong.models.heads import chunked_linear_loss
from genolong.models.net import build_net, encoder_config_dict
from genolong.models.strand_average import both_strands, rc_tables
from genolong.data.tokenizer import KmerTokenizer

MASK_ID = KmerTokenizer.mask_id
N_SPECIAL = KmerTokenizer.n_special


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int = 0, total_steps: int = 1000,
                  min_ratio: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base learning rate, then cosine decay to `min_ratio` of it."""
    warmup_steps, total_steps = max(0, int(warmup_steps)), max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class TermPositives(Metric):
    """Positive count per term over a split, summed over batches and DDP ranks."""

    def __init__(self, n_terms: int):
        super().__init__()
        self.add_state("positives", default=torch.zeros(n_terms), dist_reduce_fx="sum")

    def update(self, counts: torch.Tensor) -> None:
        self.positives += counts.to(self.positives)

    def compute(self) -> torch.Tensor:
        return self.positives


def macro_over_present(per_term: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean AUPRC over the terms with at least one positive (a term absent from a region has no
    precision-recall curve; torchmetrics would count it as 0)."""
    present = positives.reshape(-1) > 0
    if not present.any():
        return torch.tensor(float("nan"))
    return per_term.reshape(-1)[present].float().mean()


def chunked_class_loss(features: torch.Tensor, output: nn.Linear, targets: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """`class_loss` of `output(features)` (features (N, F), targets (N,) with IGNORE_INDEX), a chunk
    of rows at a time, over the rows with a class only."""
    targets = targets.reshape(-1).long()
    rows = targets != IGNORE_INDEX
    targets = targets[rows]  # (n,)

    def loss_sum(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(z.float(), t, weight=weights, reduction="sum")

    # F.cross_entropy's mean: divided by the summed weights of the targets (0 / tiny = 0 if none)
    total = weights[targets].sum() if weights is not None else torch.tensor(float(targets.numel()))
    tiny = torch.finfo(torch.float32).tiny
    return chunked_linear_loss(features[rows], output, targets, loss_sum) / total.clamp_min(tiny)


def class_loss(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the tokens with a class; 0 (not NaN) for a batch with none, e.g. windows
    inside genes of unknown function."""
    targets = targets.reshape(-1).long()
    if not (targets != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets, weight=weight,
                           ignore_index=IGNORE_INDEX)


def step_seed(seed: int, step: int, batch_idx: int, rank: int) -> int:
    """A seed that depends only on where training is, so a resumed run replays the same randomness."""
    return (int(seed) * 1_000_003 + int(step) * 10_007 + int(batch_idx) * 101 + int(rank)) % (2**63 - 1)


class GenoLongModule(LightningModule):
    def __init__(
        self,
        net: nn.Module | None = None,
        task: str = "annotate",
        encoder_config: dict | None = None,
        tokenizer: dict | None = None,
        labels: dict | None = None,
        n_outputs: int | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        class_weights: list[float] | None = None,
        mask_prob: float = 0.15,
        seed: int = 0,
        rc_average: bool = False,
        structure_labels: dict | None = None,
        structure_weight: float = 1.0,
        structure_class_weights: list[float] | None = None,
        function_weight: float = 1.0,
        transl_table: int | None = None,
        window: int | None = None,
    ):
        super().__init__()
        if task not in ("annotate", "mlm"):
            raise GenolongError(f"task: {task!r} is not one of annotate, mlm")
        if encoder_config is None or tokenizer is None or labels is None:
            raise GenolongError("GenoLongModule: encoder_config, tokenizer and labels are required, "
                                "so that checkpoints describe themselves")
        encoder_config = encoder_config_dict(encoder_config)
        if n_outputs is None:
            n_outputs = int(tokenizer["vocab_size"]) if task == "mlm" else len(labels["classes"])
        if task != "annotate":
            structure_labels = None
        n_structure = len(structure_labels["classes"]) if structure_labels else 0
        self.save_hyperparameters(
            {
                "task": task,
                "encoder_config": encoder_config,
                "tokenizer": dict(tokenizer),
                "labels": dict(labels),
                "n_outputs": int(n_outputs),
                "scheduler_interval": scheduler_interval,
                "class_weights": None if class_weights is None else [float(w) for w in class_weights],
                "mask_prob": float(mask_prob),
                "seed": int(seed),
                "rc_average": bool(rc_average),
                "structure_labels": dict(structure_labels) if structure_labels else None,
                "structure_weight": float(structure_weight),
                "structure_class_weights": None if structure_class_weights is None
                else [float(w) for w in structure_class_weights],
                "function_weight": float(function_weight),
                "transl_table": None if transl_table is None else int(transl_table),
                # the training window (tokens): `genolong annotate` tiles with it by default
                "window": None if window is None else int(window),
            }
        )
        self.net = net if net is not None else build_net(encoder_config, task, int(n_outputs), n_structure)
        self.n_structure = n_structure
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.task = task
        self.multilabel = task == "annotate" and labels.get("kind") == "multilabel"
        self.n_outputs = int(n_outputs)
        if class_weights is not None and len(class_weights) != self.n_outputs:
            raise GenolongError(f"task.class_weights: {len(class_weights)} weights for {self.n_outputs} classes")
        self.register_buffer(
            "class_weights",
            None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32),
            persistent=False,
        )
        if structure_class_weights is not None and len(structure_class_weights) != n_structure:
            raise GenolongError(f"task.structure_class_weights: {len(structure_class_weights)} weights for "
                                f"{n_structure} structure classes")
        self.register_buffer(
            "structure_class_weights",
            None if structure_class_weights is None else torch.tensor(structure_class_weights, dtype=torch.float32),
            persistent=False,
        )
        self.rc_average = bool(rc_average) and task == "annotate"
        if self.rc_average:
            # validation, test and `genolong annotate` read both strands and average the logits;
            # buffers, so the tables follow the module to its device
            rc_map, class_swap = rc_tables(KmerTokenizer.from_dict(tokenizer),
                                           joint_strand_swap(labels, structure_labels))
            self.register_buffer("rc_map", rc_map, persistent=False)
            self.register_buffer("class_swap", class_swap, persistent=False)
        self.val_metrics = self._make_metrics("val/")
        self.test_metrics = self._make_metrics("test/")
        self.val_structure_metrics = self._make_structure_metrics("val/")
        self.test_structure_metrics = self._make_structure_metrics("test/")

    # ---- metrics --------------------------------------------------------------------------
    def _make_metrics(self, prefix: str) -> MetricCollection | None:
        if self.task == "mlm":
            return None
        if self.multilabel:
            n_terms = self.n_outputs - 1
            if n_terms < 1:
                raise GenolongError("labels: the GO vocabulary keeps no terms besides 'genic'")
            return MetricCollection(
                {
                    "auprc_micro": MultilabelAveragePrecision(n_terms, average="micro", ignore_index=UNKNOWN),
                    # per term; averaged in _log_metrics over the terms present in the split
                    "auprc_macro": MultilabelAveragePrecision(n_terms, average=None, ignore_index=UNKNOWN),
                    "term_positives": TermPositives(n_terms),
                    "genic_f1": BinaryF1Score(),
                },
                prefix=prefix,
            )
        return MetricCollection(
            {
                "macro_f1": MulticlassF1Score(self.n_outputs, average="macro", ignore_index=IGNORE_INDEX),
                "mcc": MulticlassMatthewsCorrCoef(self.n_outputs, ignore_index=IGNORE_INDEX),
            },
            prefix=prefix,
        )

    def _make_structure_metrics(self, prefix: str) -> MetricCollection | None:
        if not self.n_structure:
            return None
        return MetricCollection(
            {
                "structure_macro_f1": MulticlassF1Score(self.n_structure, average="macro", ignore_index=IGNORE_INDEX),
                # per-class recall, averaged over the CDS classes in _log_metrics
                "structure_frame_acc": MulticlassAccuracy(self.n_structure, average=None, ignore_index=IGNORE_INDEX),
                "structure_class_count": TermPositives(self.n_structure),
            },
            prefix=prefix,
        )

    # ---- forward and loss -----------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(tokens, padding_mask)  # (B, L, n_outputs)

    def mask_tokens(self, tokens: torch.Tensor, padding_mask: torch.Tensor,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT corruption of `mask_prob` of the k-mer tokens: (inputs (B, L), targets (B, L))."""
        real = (~padding_mask) & (tokens >= N_SPECIAL)  # (B, L)
        draw = torch.rand(tokens.shape, generator=generator, device=tokens.device)
        chosen = real & (draw < self.hparams.mask_prob)
        targets = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE_INDEX))
        action = torch.rand(tokens.shape, generator=generator, device=tokens.device)
        random_tokens = torch.randint(N_SPECIAL, self.n_outputs, tokens.shape, generator=generator,
                                      device=tokens.device)
        inputs = torch.where(chosen & (action < 0.8), torch.full_like(tokens, MASK_ID), tokens)
        inputs = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_tokens, inputs)
        return inputs, targets

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            known = (targets != UNKNOWN) & ~padding_mask.unsqueeze(-1)  # (B, L, C)
            per_entry = F.binary_cross_entropy_with_logits(
                logits.float(), (targets == 1).float(), reduction="none"
            )
            return (per_entry * known).sum() / known.sum().clamp_min(1)
        return class_loss(logits, targets, self.class_weights)

    def _batch_targets(self, batch: dict) -> torch.Tensor:
        # the data module already encodes UNKNOWN and padding (`labels.loss_targets`)
        targets = batch["targets"]
        return targets if self.multilabel else targets.long()

    def _structure_targets(self, batch: dict) -> torch.Tensor:
        if "structure" not in batch:
            raise GenolongError("the network has a structure head but the token store has no structure "
                                "targets; re-run `genolong prepare` (or set task.structure_weight=0)")
        return batch["structure"].long().masked_fill(batch["padding_mask"], IGNORE_INDEX)  # (B, L)

    def _shared_step(self, batch: dict, generator: torch.Generator | None = None):
        """(loss, function logits, function targets, structure logits or None, structure targets or None)."""
        tokens, padding_mask = batch["tokens"], batch["padding_mask"]
        if self.task == "mlm":
            inputs, targets = self.mask_tokens(tokens, padding_mask, generator)
        else:
            inputs, targets = tokens, self._batch_targets(batch)
        if self.rc_average and not self.training:
            logits = both_strands(self.net, inputs, padding_mask, self.rc_map, self.class_swap)  # (B, L, C)
        elif self.training or self.task == "mlm":
            # only the loss is needed: never hold (B, L, C) logits
            structure_targets = self._structure_targets(batch) if self.n_structure else None
            return self._chunked_loss(inputs, targets, padding_mask, structure_targets), None, targets, None, None
        else:
            logits = self(inputs, padding_mask)  # (B, L, C)
        if not self.n_structure:
            return self._loss(logits, targets, padding_mask), logits, targets, None, None
        function, structure = logits[..., :self.n_outputs], logits[..., self.n_outputs:]
        structure_targets = self._structure_targets(batch)
        structure_loss = class_loss(structure, structure_targets, self.structure_class_weights)
        loss = (self.hparams.function_weight * self._loss(function, targets, padding_mask)
                + self.hparams.structure_weight * structure_loss)
        return loss, function, targets, structure, structure_targets

    def _chunked_loss(self, inputs: torch.Tensor, targets: torch.Tensor, padding_mask: torch.Tensor,
                      structure_targets: torch.Tensor | None = None) -> torch.Tensor:
        """`_loss` without the logits: each head's output layer and its loss run a chunk of
        positions at a time, and only over positions that carry a loss (the masked ~15% in mlm)."""
        function_states, structure_states = self.net.states(inputs, padding_mask)  # (B, L, d) each
        loss = self._features_loss(self.net.head.features(function_states, padding_mask), targets, padding_mask)
        if structure_states is None:
            return loss
        structure_head = self.net.structure_head
        structure_features = structure_head.features(structure_states, padding_mask)
        structure_loss = chunked_class_loss(structure_features.reshape(-1, structure_features.shape[-1]),
                                            structure_head.output, structure_targets, self.structure_class_weights)
        return self.hparams.function_weight * loss + self.hparams.structure_weight * structure_loss

    def _features_loss(self, features: torch.Tensor, targets: torch.Tensor,
                       padding_mask: torch.Tensor) -> torch.Tensor:
        """The function loss of the head's features (B, L, F), its output layer run a chunk at a time."""
        head = self.net.head
        features = features.reshape(-1, features.shape[-1])  # (B*L, F)
        if not self.multilabel:
            return chunked_class_loss(features, head.output, targets, self.class_weights)
        rows = ~padding_mask.reshape(-1)
        function_targets = targets.reshape(-1, targets.shape[-1])[rows]  # (N, C)
        known = (function_targets != UNKNOWN).sum()

        def loss_sum(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            per_entry = F.binary_cross_entropy_with_logits(z.float(), (t == 1).float(), reduction="none")
            return (per_entry * (t != UNKNOWN)).sum()

        return chunked_linear_loss(features[rows], head.output, function_targets, loss_sum) / known.clamp_min(1)

    # ---- Lightning hooks ------------------------------------------------------------------
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # dropout and masking depend on (seed, step) only: a resumed run draws what the
        # uninterrupted run would have drawn
        torch.manual_seed(step_seed(self.hparams.seed, self.global_step, batch_idx, self.global_rank))

    def _segments_step(self, batch: dict) -> torch.Tensor:
        """K consecutive segments per sample (B, K, L): run in order, each attending to the
        detached memory the previous one left; one loss over the tokens of every segment. The
        graphs of all K segments live until the step's single backward (as DDP expects)."""
        encoder = self.net.encoder
        if not encoder.cfg.memory:
            raise GenolongError("data.segments_per_sample > 1 needs a segment memory: set model.memory > 0")

        b, k, length = batch["tokens"].shape
        flat = {name: value.reshape(b, k * length, *value.shape[3:]) for name, value in batch.items()}
        padding_mask = flat["padding_mask"]  # (B, K·L)
        if self.task == "mlm":
            inputs, targets = self.mask_tokens(flat["tokens"], padding_mask)
        else:
            inputs, targets = flat["tokens"], self._batch_targets(flat)
        memory, features, structure_features = None, [], []
        width = encoder.cfg.context_pool if self.n_structure else 0
        for s in range(0, k * length, length):
            seg_pad = padding_mask[:, s:s + length]
            # with a structure head: the states before context_pool, pooled here for the function head
            h, memory = encoder(inputs[:, s:s + length], seg_pad, memory=memory, return_memory=True,
                                pool=not self.n_structure)
            if self.n_structure:
                structure_features.append(self.net.structure_head.features(h, seg_pad))  # (B, L, F_s)
                h = context_mean(h, seg_pad, width) if width > 1 else h
            features.append(self.net.head.features(h, seg_pad))  # (B, L, F)
        loss = self._features_loss(torch.cat(features, dim=1), targets, padding_mask)
        if not self.n_structure:
            return loss
        structure = torch.cat(structure_features, dim=1)  # (B, K·L, F_s)
        structure_loss = chunked_class_loss(structure.reshape(-1, structure.shape[-1]), self.net.structure_head.output,
                                            self._structure_targets(flat))
        return self.hparams.function_weight * loss + self.hparams.structure_weight * structure_loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if batch["tokens"].dim() == 3:  # data.segments_per_sample > 1
            loss = self._segments_step(batch)
        else:
            loss = self._shared_step(batch)[0]
        if not torch.isfinite(loss):
            raise GenolongError(
                f"training stopped: non-finite loss ({loss.item()}) at global step {self.global_step}; "
                "lower optimizer.lr or enable gradient clipping (trainer.gradient_clip_val)"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["tokens"].shape[0])
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            raise GenolongError(
                f"training stopped: non-finite gradients at global step {self.global_step}; "
                "lower optimizer.lr or enable gradient clipping (trainer.gradient_clip_val)"
            )

    def _eval_step(self, batch: dict, batch_idx: int, stage: str, metrics: MetricCollection | None,
                   structure_metrics: MetricCollection | None = None) -> None:
        generator = None
        if self.task == "mlm":
            # the same tokens are masked at every validation, so scores are comparable over time
            generator = torch.Generator(device=batch["tokens"].device).manual_seed(int(batch_idx))
        loss, logits, targets, structure, structure_targets = self._shared_step(batch, generator)
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["tokens"].shape[0])
        real = ~batch["padding_mask"].reshape(-1)  # (B*L,)
        if structure_metrics is not None:
            structure = structure.reshape(-1, self.n_structure)[real].float()  # (N, S)
            structure_targets = structure_targets.reshape(-1)[real]  # (N,)
            structure_metrics["structure_macro_f1"].update(structure, structure_targets)
            structure_metrics["structure_frame_acc"].update(structure, structure_targets)
            structure_metrics["structure_class_count"].update(
                torch.bincount(structure_targets[structure_targets >= 0], minlength=self.n_structure).float())
        if metrics is None:
            return
        logits = logits.reshape(-1, logits.shape[-1])[real].float()  # (N, C)
        targets = targets.reshape(-1, *targets.shape[2:])[real]  # (N,) or (N, C)
        if self.multilabel:
            probs = torch.sigmoid(logits)
            metrics["auprc_micro"].update(probs[:, 1:], targets[:, 1:].long())
            metrics["auprc_macro"].update(probs[:, 1:], targets[:, 1:].long())
            metrics["genic_f1"].update(probs[:, 0], targets[:, 0].long())
            metrics["term_positives"].update((targets[:, 1:] == 1).sum(dim=0).float())
        else:
            metrics.update(logits, targets)

    def _log_metrics(self, metrics: MetricCollection | None) -> None:
        if metrics is None:
            return
        values = metrics.compute()
        prefix = metrics.prefix
        if f"{prefix}structure_frame_acc" in values:
            # mean recall over the CDS classes present: tokens of protein-coding genes given their
            # exact strand and codon position
            cds = torch.tensor(self.cds_classes, device=values[f"{prefix}structure_frame_acc"].device)
            counts = values.pop(f"{prefix}structure_class_count")[cds]
            recall = values[f"{prefix}structure_frame_acc"][cds]
            values[f"{prefix}structure_frame_acc"] = (recall * counts).sum() / counts.sum().clamp_min(1)
        if f"{prefix}auprc_macro" in values:
            values[f"{prefix}auprc_macro"] = macro_over_present(values[f"{prefix}auprc_macro"],
                                                                values.pop(f"{prefix}term_positives"))
        # a term absent from the held-out region has no AUPRC; it counts as 0, not as a crash
        self.log_dict({k: torch.nan_to_num(v.float(), nan=0.0) for k, v in values.items()},
                      prog_bar=True, sync_dist=True)
        metrics.reset()

    @property
    def cds_classes(self) -> list[int]:
        classes = (self.hparams.structure_labels or {}).get("classes", [])
        return [i for i, name in enumerate(classes) if name.startswith("CDS")]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val", self.val_metrics, self.val_structure_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics)
        self._log_metrics(self.val_structure_metrics)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test", self.test_metrics, self.test_structure_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics)
        self._log_metrics(self.test_structure_metrics)

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise GenolongError("GenoLongModule: no optimizer given; pass optimizer=partial(torch.optim.AdamW, lr=...)")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval, "frequency": 1},
        }

    def load_pretrained_encoder(self, path: str) -> None:
        """Initialise the encoder from an `mlm` (or any genolong) checkpoint for fine-tuning."""
        from genolong.training.checkpoint import net_state_dict, read_checkpoint

        checkpoint = read_checkpoint(path)
        hparams = checkpoint["hyper_parameters"]
        check_compatible(path, tokenizer=hparams["tokenizer"], expect_tokenizer=self.hparams.tokenizer,
                         have="pretrained", want="token store's")
        theirs, ours = hparams["encoder_config"], self.hparams.encoder_config
        shape_keys = ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff")
        diff = [k for k in shape_keys if theirs.get(k) != ours.get(k)]
        if diff:
            raise GenolongError(
                f"{path}: pretrained encoder differs in {', '.join(f'{k} ({theirs.get(k)} vs {ours.get(k)})' for k in diff)}"
            )
        encoder_state = {k[len("encoder."):]: v for k, v in net_state_dict(checkpoint).items()
                         if k.startswith("encoder.")}
        self.net.encoder.load_state_dict(encoder_state)
