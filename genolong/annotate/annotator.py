"""Annotate any genome with a trained network: tokenize, tile, run, stitch, decode, pool.

With a structure head (two-head checkpoints) protein-coding genes are ORFs of the genome's code
chosen by the structure probabilities (`orf_decode.py`), RNA genes are segments, and each
called gene gets the function probabilities pooled over its tokens; without one, the function
classes are decoded as label runs (`decode.py`), as before.

Memory: the network only ever sees `batch_size` windows of `window` tokens; stitched windows are
finished in token order and their probabilities go straight to an anonymous temporary file
(`spill.SpillArray`), which the decoder, the gene pooling and the writers read back in slices.
What stays in memory per record is its tokens (2 bytes per token) and the gene calls.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from genolong.annotate.decode import Segment, decode_record
from genolong.annotate.genes import GeneCall, models_to_genes, pool_reference_genes, segments_to_genes
from genolong.annotate.orf_decode import DecodeConfig, decode_genome
from genolong.annotate.probs import TokenProbs, save_probs
from genolong.annotate.spill import LazyRecords, SpillArray, SpillFile
from genolong.annotate.tiling import Stitcher, StreamingStitcher, Window, batches, plan_windows
from genolong.annotate.writers import gff3_lines, bed_lines, tsv_lines, write_bed, write_genes_tsv, write_gff3
from genolong.data.labels import joint_strand_swap
from genolong.data.store import check_compatible
from genolong.errors import GenolongError


@dataclass
class AnnotationResult:
    lengths: dict[str, int]  # seqid -> bp, in genome order
    probs: dict[str, np.ndarray]  # seqid -> (n_tokens, C) float32 probabilities
    segments: list[Segment]  # decoded predicted genes
    genes: list[GeneCall]  # reference genes pooled when a reference was given, else predictions
    classes: list[str]
    kind: str
    labels: dict  # LabelVocab.to_dict()
    tokenizer: dict  # KmerTokenizer.to_dict()
    seconds: float = 0.0
    predicted: list[GeneCall] = field(default_factory=list)
    structure: dict[str, np.ndarray] = field(default_factory=dict)  # seqid -> (n_tokens, C_s), two-head only
    structure_labels: dict | None = None  # LabelVocab.to_dict() of the structure head
    transl_table: int | None = None  # genetic code of the gene models
    genome: object = None  # path or Genome the sequences come from (GenBank / protein FASTA writers)
    spilled: dict = field(default_factory=dict, repr=False)  # seqid -> SpillArray behind probs / structure
    go_threshold: float = 0.5  # GO terms written into GFF3 / GenBank reach this pooled probability
    n_structure: int = 0  # structure columns after the function columns of `spilled`
    function: object = None  # annotate.function.FunctionResult: per-gene function of `predicted` (and `genes`)
    circular: frozenset = frozenset()  # records read as circular (annotate/circular.py): genes may cross their origin

    @property
    def gene_models(self) -> bool:
        """True when the predictions are gene models (ORFs and RNA segments), not label runs."""
        return self.structure_labels is not None

    @property
    def total_bp(self) -> int:
        return sum(self.lengths.values())

    @property
    def mbp_per_s(self) -> float:
        return self.total_bp / 1e6 / self.seconds if self.seconds > 0 else float("nan")

    def to_gff3(self, path: str | os.PathLike | None = None) -> str | None:
        """GFF3 text, or write it atomically to `path`."""
        if self.gene_models:
            from genolong.annotate.formats import gene_gff3_lines, write_gene_gff3

            if path is not None:
                write_gene_gff3(path, self.predicted, self.lengths, self.kind, self.labels, self.transl_table,
                                self.go_threshold, self.circular)
                return None
            return "".join(gene_gff3_lines(self.predicted, self.lengths, self.kind, self.labels, self.transl_table,
                                           self.go_threshold, self.circular))
        if path is not None:
            write_gff3(path, self.segments, self.lengths)
            return None
        return "".join(gff3_lines(self.segments, self.lengths))

    def to_bed(self, path: str | os.PathLike | None = None) -> str | None:
        items = self.predicted if self.gene_models else self.segments
        if path is not None:
            write_bed(path, items, self.classes, self.lengths)
            return None
        return "".join(bed_lines(items, self.classes, self.lengths))

    def to_tsv(self, path: str | os.PathLike | None = None) -> str | None:
        if path is not None:
            write_genes_tsv(path, self.genes, self.classes)
            return None
        return "".join(tsv_lines(self.genes, self.classes))

    def token_probs(self) -> TokenProbs:
        """The probabilities to save; read from the on-disk arrays slice by slice when there are some."""
        probs, structure = self.probs, self.structure or None
        if self.spilled:
            n = len(self.classes)
            probs = {s: a.columns(slice(0, n)) for s, a in self.spilled.items()}
            structure = {s: a.columns(slice(n, n + self.n_structure)) for s, a in self.spilled.items()} \
                if structure else None
        md5 = None
        if self.genome is not None:
            from genolong.annotate.probs import sequence_md5

            with _opened(self.genome) as genome:
                md5 = {s: sequence_md5(genome, s) for s in self.lengths}
        return TokenProbs(list(self.lengths), dict(self.lengths), probs, self.labels, self.tokenizer,
                          structure, self.structure_labels, self.transl_table, md5)

    def write(self, prefix: str | os.PathLike, inputs: Sequence = ()) -> dict[str, Path]:
        """PREFIX.gff3, .bed, .genes.tsv and .probs.npz, and for gene models also PREFIX.gbk
        (GenBank) and PREFIX.faa (proteins); all or none (`output_set`). `inputs`: the run's input
        files, which no output may overwrite."""
        from genolong.annotate.output_set import write_set

        writers = {"gff3": self.to_gff3, "bed": self.to_bed, "genes.tsv": self.to_tsv,
                   "probs.npz": lambda path: save_probs(path, self.token_probs())}
        if self.gene_models:
            from genolong.annotate.formats import write_faa, write_genbank

            def gbk(path):
                with _opened(self.genome) as genome:
                    write_genbank(path, genome, self.lengths, self.predicted, self.kind, self.labels,
                                  self.transl_table, self.go_threshold, self.circular)

            def faa(path):
                with _opened(self.genome) as genome:
                    write_faa(path, genome, self.predicted, self.transl_table)

            writers.update(gbk=gbk, faa=faa)
        if self.function is not None:
            from genolong.annotate.function import save_function

            writers["function.npz"] = lambda path: save_function(path, self.function)
        own = [self.genome] if isinstance(self.genome, (str, os.PathLike)) else []
        return write_set(prefix, writers, [*inputs, *own])


class _opened:
    """Context manager: a Genome as given, or opened (and closed) from a path."""

    def __init__(self, genome):
        self.genome, self.owned = genome, None

    def __enter__(self):
        if hasattr(self.genome, "fetch"):
            return self.genome
        if self.genome is None:
            raise GenolongError("annotation result: no genome to read sequences from")
        from genolong.data.genome import open_genome

        self.owned = open_genome(self.genome)
        return self.owned

    def __exit__(self, *exc):
        if self.owned is not None:
            self.owned.close()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GenolongError(f"--device {device}: CUDA is not available on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise GenolongError(f"--device {device}: expected auto, cpu or cuda")
    return device


DEFAULT_WINDOW = 512


class Annotator:
    """Runs a token-classification network over whole genomes in overlapping windows."""

    def __init__(
        self,
        net,
        tokenizer,
        labels,
        window: int = DEFAULT_WINDOW,
        overlap: int | None = None,
        batch_size: int = 8,
        device: str = "cpu",
        stitch: str = "centre",
        p_switch: float = 0.005,
        min_length: int = 60,
        progress: bool = True,
        rc_average: bool = False,
        structure_labels=None,
        transl_table: int | None = None,
        decode: DecodeConfig | None = None,
        checkpoint_table: int | None = None,
        stream: bool = False,
        states: bool = False,
        function=None,
        rna: str = "network",
        threads: int = 1,
        pseudogenes: bool = True,
        rna_caller=None,
        gene_caller=None,
        start_caller=None,
    ):
        overlap = window // 4 if overlap is None else overlap
        if window < 1:
            raise GenolongError(f"--window {window}: must be at least 1 token")
        if not 0 <= overlap < window:
            raise GenolongError(f"--overlap {overlap}: must be in [0, window={window})")
        if batch_size < 1:
            raise GenolongError(f"--batch-size {batch_size}: must be at least 1")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        if states:
            from genolong.models.net import WithStates

            self.run_net = WithStates(self.net).eval()
        else:
            self.run_net = self.net
        self.tokenizer = tokenizer
        self.labels = labels
        self.structure_labels = structure_labels
        self.n_function = len(labels.classes)
        self.n_classes = self.n_function + (len(structure_labels.classes) if structure_labels is not None else 0)
        # with `states`, every token also carries the encoder's function states (after the classes),
        # which the per-gene function head pools over each gene
        self.d_states = int(net.encoder.cfg.d_model) if states else 0
        self.n_columns = self.n_classes + self.d_states
        self.function = function  # annotate.function.FunctionPredictor, or None: no per-gene function
        self.gene_caller = gene_caller  # annotate.gene_caller.GeneCaller: the ORF net's score per candidate ORF
        self.start_caller = start_caller  # annotate.start_caller.StartCaller: the TIS net's score per candidate start
        self.window, self.overlap, self.batch_size = window, overlap, batch_size
        self.stitch, self.p_switch, self.min_length = stitch, p_switch, min_length
        self.progress = progress
        # where gene models' RNA genes come from (annotate/rna_genes.py): `network` (the decoder's
        # own segments, the library default), `aragorn` (ARAGORN + barrnap), `off`; `auto` resolved here
        from genolong.annotate.rna_genes import resolve_mode

        self.rna, self.threads = resolve_mode(rna, rna_caller is not None), threads
        self.rna_caller = rna_caller  # annotate.rna_caller.RNACaller (`genolong fit-rna`), or None
        self.pseudogenes = pseudogenes  # flag pseudogene fragments by homology (annotate/pseudogenes.py)
        # the genetic code: `transl_table` (--transl-table) when given, else the checkpoint's, else
        # the genome's own (GenBank CDS or --annotation), else 11; see `genetic_code_for`
        from genolong.data.structure import check_transl_table

        self.transl_table = None if transl_table is None else check_transl_table(transl_table, "--transl-table")
        self.checkpoint_table = None if checkpoint_table is None else check_transl_table(checkpoint_table, "checkpoint")
        self.decode_config = decode or DecodeConfig()
        self.rc_tables = None
        if rc_average:
            from genolong.models.strand_average import rc_tables

            swap = joint_strand_swap(labels, structure_labels)
            if swap is not None and states:  # state columns stay where they are
                swap = np.concatenate([swap, np.arange(len(swap), len(swap) + self.d_states)])
            self.rc_tables = tuple(None if t is None else t.to(self.device) for t in rc_tables(tokenizer, swap))
        self._check_head()
        self.streamer = None
        if stream:  # one stream per strand with the segment memory (genolong/annotate/stream.py)
            from genolong.annotate.stream import StreamReader

            swap = joint_strand_swap(labels, structure_labels)
            if swap is not None and states:  # state columns stay where they are
                swap = np.concatenate([swap, np.arange(len(swap), len(swap) + self.d_states)])
            self.streamer = StreamReader(self.net, tokenizer, swap, self.n_columns, window, batch_size,
                                         self.device, states=states)

    def _check_head(self) -> None:
        """Refuse a network whose output width is not the label vocabularies', before any work."""
        import torch

        probe = torch.full((1, 8), self.tokenizer.n_special, dtype=torch.long, device=self.device)  # (1, 8)
        with torch.inference_mode():
            width = self.net(probe, torch.zeros_like(probe, dtype=torch.bool)).shape[-1]
        if width != self.n_classes:
            raise GenolongError(f"checkpoint: network outputs {width} classes but its label vocabularies have "
                                f"{self.n_classes}")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, expect_tokenizer=None, expect_labels=None, **kwargs) -> "Annotator":
        """Load a checkpoint; refuse it when its tokenizer or labels differ from the expected ones.
        The genetic code is `transl_table=` when given, else the checkpoint's (see `genetic_code_for`)."""
        from genolong.training.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, map_location="cpu")
        if getattr(loaded, "task", "annotate") != "annotate":
            raise GenolongError(f"{path}: a {loaded.task!r} checkpoint has no annotation head; train with task=annotate")
        check_compatible(path, loaded.tokenizer, loaded.labels, expect_tokenizer, expect_labels)
        # read both strands when the checkpoint was validated that way
        kwargs.setdefault("rc_average", bool(loaded.hparams.get("rc_average", False)))
        # tile with the window the model was trained on (checkpoints from before it was saved: 512)
        if kwargs.get("window") is None:
            kwargs["window"] = int(loaded.hparams.get("window") or DEFAULT_WINDOW)
        kwargs.setdefault("checkpoint_table", getattr(loaded, "transl_table", None))
        return cls(loaded.net, loaded.tokenizer, loaded.labels,
                   structure_labels=getattr(loaded, "structure_labels", None), **kwargs)

    # ---- running the network ------------------------------------------------------------
    def _forward(self, tokens: np.ndarray, windows) -> list[np.ndarray]:
        import torch

        from genolong.models.strand_average import both_strands

        length = max(w.end - w.start for w in windows)
        batch = np.zeros((len(windows), length), dtype=np.int64)  # (B, L), 0 = [PAD]
        pad = np.ones((len(windows), length), dtype=bool)  # (B, L), True at padding
        for row, w in enumerate(windows):
            batch[row, : w.end - w.start] = tokens[w.start : w.end]
            pad[row, : w.end - w.start] = False
        tokens_t, pad_t = torch.from_numpy(batch).to(self.device), torch.from_numpy(pad).to(self.device)
        with torch.inference_mode():
            if self.rc_tables is None:
                logits = self.run_net(tokens_t, pad_t)  # (B, L, C [+ d_states])
            else:
                logits = both_strands(self.run_net, tokens_t, pad_t, *self.rc_tables)  # (B, L, C [+ d_states])
        logits = logits.float().cpu().numpy()  # (B, L, C [+ d_states])
        if logits.ndim != 3 or logits.shape[2] != self.n_columns:
            raise GenolongError(f"checkpoint: network outputs {logits.shape[-1]} classes but its label "
                                f"vocabularies have {self.n_classes}")
        return [logits[row, : w.end - w.start] for row, w in enumerate(windows)]

    def record_logits(self, tokens: np.ndarray, on_window=None) -> np.ndarray:
        """Stitched logits (n_tokens, C) of one record's tokens, in memory."""
        if self.streamer is not None:
            return self.streamer.record_logits(
                tokens, None if on_window is None else lambda a, b: on_window([Window(a, b)]))
        windows = plan_windows(len(tokens), self.window, self.overlap)
        stitcher = Stitcher(len(tokens), self.n_columns, self.overlap, self.stitch)
        for chunk, chunk_logits in self._batch_logits(tokens, windows):
            for w, logits in zip(chunk, chunk_logits):
                stitcher.add(w, logits)
            if on_window is not None:
                on_window(chunk)
        return stitcher.logits()

    def _batch_logits(self, tokens: np.ndarray, windows: list[Window]):
        """(batch of windows, their logits) in window order; on `threads` CPU threads at once
        (`genolong/parallel.py`: the same numbers at any thread count)."""
        from genolong.parallel import ordered_map

        threads = self.threads if self.device == "cpu" else 1
        return ordered_map(lambda chunk: (chunk, self._forward(tokens, chunk)),
                           batches(windows, self.batch_size), threads)

    def record_probs(self, tokens: np.ndarray, on_window=None, spill_file: SpillFile | None = None) -> SpillArray:
        """Probabilities (n_tokens, C) of one record, written to disk (`spill_file`, else a file of
        its own) as windows are finished."""
        out = SpillArray(self.n_columns, spill_file=spill_file)
        if self.streamer is not None:  # the stream holds a record's logits whole (genolong/annotate/stream.py)
            logits = self.record_logits(tokens, on_window)
            for a in range(0, len(logits), 1 << 16):
                out.append(self.probabilities(logits[a : a + (1 << 16)]))
            return out
        windows = plan_windows(len(tokens), self.window, self.overlap)
        stitcher = StreamingStitcher(len(tokens), self.n_columns, self.window, self.overlap,
                                     lambda first, logits: out.append(self.probabilities(logits)), self.stitch)
        for chunk, chunk_logits in self._batch_logits(tokens, windows):
            for w, logits in zip(chunk, chunk_logits):
                stitcher.add(w, logits)
            if on_window is not None:
                on_window(chunk)
        stitcher.finish()
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Function columns: sigmoid (multilabel) or softmax; structure columns: softmax; states as they are."""
        f = logits[:, : self.n_function]
        out = [1.0 / (1.0 + np.exp(-f)) if self.labels.kind == "multilabel" else _softmax(f)]
        if self.structure_labels is not None:
            out.append(_softmax(logits[:, self.n_function : self.n_classes]))
        if self.d_states:
            out.append(logits[:, self.n_classes :])
        return np.concatenate(out, axis=1).astype(np.float32)

    # ---- whole genomes ------------------------------------------------------------------
    def annotate(self, genome, reference=None, seqids: Sequence[str] | None = None,
                 circular: Sequence[str] | None = None) -> AnnotationResult:
        """Annotate a Genome (or a path to one); pool `reference` genes (or a path) when given.
        `circular`: records to read as circular besides those the files mark (`all`: every one)."""
        from genolong.annotate.circular import Circle, circular_records

        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        source = genome
        owned = not hasattr(genome, "fetch")
        if owned:
            from genolong.data.genome import open_genome

            genome = open_genome(genome)
        reference_name, marked = "--annotation", frozenset()
        if isinstance(reference, (str, os.PathLike)):
            from genolong.data.annotation import read_annotation_topology

            reference_name, (reference, marked) = str(reference), read_annotation_topology(reference)
        try:
            ids = list(seqids) if seqids is not None else list(genome.ids)
            circular = circular_records(genome, ids, circular, marked)
            if reference is not None:
                from genolong.data.annotation import check_ends

                check_ends(reference, genome.lengths, reference_name, circular)  # before the network runs
            table = self.genetic_code_for(genome, reference)
            lengths = {s: int(genome.lengths[s]) for s in ids}
            # gene models cross the origin of circular records; label runs read every record as it is
            circle = Circle(genome, ids, circular if self.structure_labels is not None else (),
                            self.decode_config.margin_bp, self.tokenizer, self.window - self.overlap)
            probs: dict[str, SpillArray] = {}
            spill_file = SpillFile()  # every record's probabilities, one after the other
            segments: list[Segment] = []
            predicted: list[GeneCall] = []
            t0 = time.perf_counter()
            with Progress(
                TextColumn("annotate {task.description}"), BarColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=Console(stderr=True), disable=not self.progress, transient=False,
            ) as bar:
                task = bar.add_task("", total=sum(circle.lengths.values()))
                for seqid in ids:
                    bar.update(task, description=seqid)
                    probs[seqid] = self._record(circle, seqid, circle.lengths[seqid], bar, task, spill_file)
                    if self.structure_labels is None:
                        segments += self._label_runs(seqid, lengths[seqid], probs[seqid])
            if self.structure_labels is not None:  # the whole genome at once: its start model needs every record
                predicted = self._gene_models(circle, ids, circle.lengths, probs, table)
                probs = circle.record_rows(probs)
            seconds = time.perf_counter() - t0
        finally:
            if owned:
                genome.close()
        if self.structure_labels is None:
            predicted = segments_to_genes(segments, self.labels.kind)
        function = {s: p.columns(slice(0, self.n_function)) for s, p in probs.items()}
        genes = predicted if reference is None else self._pool_reference(reference, function, lengths, ids)
        gene_function = None
        if self.function is not None and self.structure_labels is None:
            print("gene function: this checkpoint has no structure head, so no gene models for the per-gene "
                  "function head beside it; the label runs keep the token head's function", file=sys.stderr)
        if self.function is not None and self.structure_labels is not None:
            from genolong.annotate.function import annotate_function

            states = {s: p.columns(slice(self.n_classes, self.n_columns)) for s, p in probs.items()} \
                if self.d_states else None
            with _opened(source if owned else genome) as g:
                gene_function = annotate_function(self.function, g, table, predicted, genes if reference is not None
                                                  else None, states, self.tokenizer.k, self.tokenizer.stride)
                if self.pseudogenes:
                    from genolong.annotate.pseudogenes import flag_predicted

                    gene_function.pseudogenes = flag_predicted(g, predicted, table, self.function, gene_function)
        structure = {}
        if self.structure_labels is not None:
            structure = LazyRecords(probs, slice(self.n_function, self.n_classes))
        return AnnotationResult(
            lengths, LazyRecords(probs, slice(0, self.n_function)), segments, genes,
            list(self.labels.classes), self.labels.kind, self.labels.to_dict(), self.tokenizer.to_dict(), seconds,
            predicted, structure, None if self.structure_labels is None else self.structure_labels.to_dict(),
            table, source if owned else genome, probs, n_structure=self.n_classes - self.n_function,
            function=gene_function, circular=circular,
        )

    def _record(self, genome, seqid: str, length: int, bar, task, spill_file: SpillFile | None = None) -> SpillArray:
        """Tokenize one record and run the network over it, advancing the progress bar."""
        n = self.tokenizer.n_tokens(length)
        tokens = np.empty(n, dtype=self.tokenizer.dtype)
        self.tokenizer.encode_record(lambda a, b: genome.fetch(seqid, a, b), length, tokens)
        done = 0

        def advance(chunk):
            nonlocal done
            step = sum(w.end - w.start for w in chunk) * length // max(n, 1)
            bar.advance(task, step)
            done += step

        out = self.record_probs(tokens, advance, spill_file)
        bar.advance(task, max(0, length - done))
        return out

    def _label_runs(self, seqid: str, length: int, probs: SpillArray) -> list[Segment]:
        k, stride = self.tokenizer.k, self.tokenizer.stride
        return decode_record(seqid, probs.memmap(), list(self.labels.classes), self.labels.kind, k, stride,
                             length, self.p_switch, self.min_length)

    def _gene_models(self, genome, ids: list[str], lengths: dict, probs: dict, table: int) -> list[GeneCall]:
        k, stride = self.tokenizer.k, self.tokenizer.stride
        records = [(s, functools.partial(genome.fetch, s), lengths[s], probs[s].columns(slice(self.n_function, self.n_classes)))
                   for s in ids]
        models = decode_genome(records, list(self.structure_labels.classes), k, stride,
                               dataclasses.replace(self.decode_config, table=table), orf_score=self.gene_caller,
                               start_score=self.start_caller)
        from genolong.annotate import rna_genes

        # `genome` is a circular.Circle: RNA genes merged on the extended records, then each gene once
        models, n_dropped = genome.merge_rna(
            models, rna_genes.source_genes(self.rna, genome, ids, table, self.threads, self.rna_caller),
            self.decode_config.max_overlap)
        rna_genes.print_summary(self.rna, models, n_dropped, self.rna_caller)
        return genome.to_record([g for s in ids for g in models_to_genes(
            models[s], probs[s].columns(slice(0, self.n_function)), list(self.labels.classes), self.labels.kind,
            k, stride)])

    def _pool_reference(self, reference, function: dict, lengths: dict, ids: list[str]) -> list[GeneCall]:
        reference = list(reference)
        known = [g for g in reference if g.seqid in lengths]
        if reference and not known:
            raise GenolongError(
                f"reference annotation: none of its sequence ids ({', '.join(sorted({g.seqid for g in reference})[:3])}"
                f", ...) are in the genome ({', '.join(ids[:3])}, ...)"
            )
        return pool_reference_genes(known, function, list(self.labels.classes), self.labels.kind,
                                    self.tokenizer.k, self.tokenizer.stride, lengths)

    def genetic_code_for(self, genome, reference=None) -> int | None:
        """The gene models' genetic code: --transl-table, else the checkpoint's, else the genome's
        own (the CDS /transl_table of `reference`, else of a GenBank genome), else 11. A genome
        whose own code differs from the one asked for or learnt is refused. None without a
        structure head (no gene models)."""
        if self.structure_labels is None:
            return None
        from genolong.annotate.orfs import genetic_code
        from genolong.data.structure import DEFAULT_TRANSL_TABLE, transl_table_of

        own, source = None, None
        if reference is not None:  # already parsed: no second read of a GenBank genome
            own, source = transl_table_of(list(reference), "--annotation"), "--annotation"
        elif getattr(genome, "format", None) == "genbank":
            from genolong.data.annotation import read_annotation

            own, source = transl_table_of(read_annotation(genome.path), str(genome.path)), genome.path
        wanted = self.transl_table if self.transl_table is not None else self.checkpoint_table
        if wanted is not None and own is not None and own != wanted:
            by = "--transl-table" if self.transl_table is not None else "the checkpoint"
            raise GenolongError(f"{source}: its CDS use genetic code {own} (/transl_table) but {by} says {wanted}; "
                                f"pass --transl-table {own} if the checkpoint suits this genome")
        table = wanted or own or DEFAULT_TRANSL_TABLE
        genetic_code(table)
        return table


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def throughput_line(result: AnnotationResult) -> str:
    return (
        f"annotated {result.total_bp:,} bp in {len(result.lengths)} record(s) in {result.seconds:.2f} s: "
        f"{result.mbp_per_s:.3f} Mbp/s"
    )


def print_throughput(result: AnnotationResult, stream=None) -> None:
    print(throughput_line(result), file=stream or sys.stderr)

