"""`genolong annotate`: annotate a FASTA or GenBank genome from a trained checkpoint.

Writes PREFIX.gff3, PREFIX.bed, PREFIX.genes.tsv and PREFIX.probs.npz (the per-token
probabilities `genolong evaluate` scores), and with a two-head checkpoint PREFIX.gbk (GenBank)
and PREFIX.faa (proteins), each atomically; progress and throughput go to stderr. Gene models'
RNA genes come from `--rna` (annotate/rna_genes.py: the RNA-caller network of `genolong fit-rna`
when there is one, else ARAGORN and barrnap).
"""

from __future__ import annotations

import argparse
import sys

# every file annotate may write (gene models add gbk and faa), checked before the run
ANNOTATION_OUTPUTS = ("gff3", "bed", "genes.tsv", "probs.npz", "gbk", "faa", "function.npz")
from genolong import threads
from genolong.annotate.rna_genes import RNA_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="trained checkpoint (.ckpt) with an annotation head")
    parser.add_argument("--genome", required=True, help="FASTA (plain, gz, bgzip) or GenBank file")
    parser.add_argument("--annotation", help="reference GFF3/GTF/GenBank: genes.tsv then lists these genes")
    parser.add_argument("--out", required=True, help="output prefix: PREFIX.gff3, .bed, .genes.tsv, .probs.npz")
    parser.add_argument("--window", type=int, default=None,
                        help="window length in tokens (default: the checkpoint's training window; 512 when it has none)")
    parser.add_argument("--overlap", type=int, default=None, help="overlap between windows in tokens (default window/4)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--stitch", choices=["centre", "average"], default="centre",
                        help="how overlapping windows are combined (default centre-weighted)")
    parser.add_argument("--min-length", type=int, default=60, help="shortest predicted gene in bp (default 60)")
    parser.add_argument("--switch-prob", type=float, default=0.005,
                        help="HMM probability of changing class between tokens (default 0.005)")
    parser.add_argument("--transl-table", type=int, default=None, metavar="N",
                        help="NCBI genetic code of the gene models (default: the checkpoint's, else the genome's "
                             "own /transl_table, from a GenBank genome or --annotation, else 11)")
    parser.add_argument("--min-gene-length", type=int, default=120,
                        help="shortest protein-coding gene in bp, stop codon included (default 120)")
    parser.add_argument("--start-model", action=argparse.BooleanOptionalAction, default=True,
                        help="re-choose gene starts with a start-codon and ribosome-binding-site model self-trained "
                             "on this genome's first-pass genes (default on; --no-start-model: the fixed start prior)")
    parser.add_argument("--coding-model", action=argparse.BooleanOptionalAction, default=True,
                        help="add to every ORF's score a codon-usage (hexamer) score self-trained on this genome's "
                             "first-pass genes, which calls short genes the network scores weakly (default on)")
    parser.add_argument("--go-threshold", type=float, default=0.5,
                        help="GO terms whose pooled probability reaches this go into the GFF3/GenBank (default 0.5;"
                             " genes.tsv keeps every probability)")
    parser.add_argument("--homology", metavar="PATH",
                        help="homology index of labelled proteins (homology.json.gz from `genolong fit-function`); "
                             "default: the one saved beside the checkpoint, if any")
    parser.add_argument("--no-homology", action="store_true",
                        help="gene function from the network alone, even when the checkpoint has an index")
    parser.add_argument("--pseudogenes", action=argparse.BooleanOptionalAction, default=True,
                        help="write protein-coding calls that the homology index shows to be fragments of a broken "
                             "gene (a partial copy of a training protein) as pseudogenes, pseudo=true, as RefSeq "
                             "does; `genolong evaluate` does not count them as genes and gives its network-free "
                             "row the same pass (default on; needs the homology index)")
    parser.add_argument("--rna", choices=RNA_MODES, default="auto",
                        help="where tRNA / tmRNA / rRNA genes come from: network (the RNA-caller network of "
                             "--rna-caller or the rna_caller.pt beside the checkpoint, else the structure head's "
                             "own RNA segments), aragorn (ARAGORN for tRNA and tmRNA, barrnap for rRNA, through "
                             "pyaragorn / pybarrnap), off (none); auto (default): network when there is an RNA "
                             "caller, else aragorn when both packages are installed, else network. A "
                             "protein-coding call with > 50%% of its length inside an RNA gene is dropped")
    parser.add_argument("--rna-caller", metavar="PATH",
                        help="RNA-caller network (rna_caller.pt from `genolong fit-rna`); default: the one "
                             "beside the checkpoint, if any")
    parser.add_argument("--circular", nargs="+", metavar="SEQID",
                        help="records to read as circular, so a gene may cross the origin (written as GFF3 ends "
                             "past the record's length and GenBank joins), besides those the files mark (GenBank "
                             "LOCUS topology, GFF3 Is_circular=true); `all`: every record. Gene-model "
                             "checkpoints only: label runs read every record as it is")
    parser.add_argument("--no-gene-caller", action="store_true",
                        help="decode without the ORF net (gene_caller.pt from `genolong fit-genes`) even when one "
                             "sits beside the checkpoint")
    parser.add_argument("--no-start-caller", action="store_true",
                        help="choose starts without the TIS net (start_caller.pt from `genolong fit-starts`) even "
                             "when one sits beside the checkpoint")
    parser.add_argument("--store", help="token store whose tokenizer and labels the checkpoint must match")
    parser.add_argument("--stream", action="store_true",
                        help="read each record as one stream of --window-token segments carrying the segment "
                             "memory, on both strands (checkpoints trained with model.memory > 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    threads.add_argument(parser)


def run(args: argparse.Namespace) -> int:
    from genolong.annotate.annotator import Annotator, print_throughput
    from genolong.annotate.orf_decode import DecodeConfig
    from genolong.annotate.output_set import check_outputs
    from genolong.errors import GenolongError

    inputs = [args.genome, args.annotation, args.checkpoint, args.store, args.homology, args.rna_caller]
    check_outputs(args.out, ANNOTATION_OUTPUTS, inputs)
    n_threads = threads.apply(args.threads, torch=True)

    if not 0.0 <= args.go_threshold <= 1.0:
        raise GenolongError(f"--go-threshold {args.go_threshold}: must be between 0 and 1")
    for option, value in (("--min-gene-length", args.min_gene_length), ("--min-length", args.min_length)):
        if value < 0:
            raise GenolongError(f"{option} {value}: must be >= 0 bp")
    if not 0.0 < args.switch_prob < 1.0:
        raise GenolongError(f"--switch-prob {args.switch_prob}: must be between 0 and 1")
    if args.homology and args.no_homology:
        raise GenolongError("--homology and --no-homology: give one or the other")
    from genolong.annotate.rna_caller import RNACaller, beside

    if args.rna_caller and args.rna not in ("auto", "network"):
        raise GenolongError(f"--rna-caller {args.rna_caller}: only with --rna auto or network, not {args.rna}")
    caller_path = args.rna_caller or (beside(args.checkpoint) if args.rna in ("auto", "network") else None)
    rna_caller = RNACaller.load(caller_path) if caller_path else None
    from genolong.annotate.function import FunctionPredictor

    # the per-gene function head and homology index saved beside the checkpoint by `genolong fit-function`
    predictor = FunctionPredictor.from_checkpoint(args.checkpoint, homology=args.homology,
                                                  use_homology=not args.no_homology, threads=n_threads,
                                                  progress=not args.no_progress)
    from genolong.annotate.gene_caller import GeneCaller

    gene_caller = None if args.no_gene_caller else GeneCaller.beside(args.checkpoint)
    if gene_caller is not None:
        print(gene_caller.describe(), file=sys.stderr)
    from genolong.annotate.start_caller import StartCaller

    start_caller = None if args.no_start_caller else StartCaller.beside(args.checkpoint)
    if start_caller is not None:
        print(start_caller.describe(), file=sys.stderr)
    expect_tokenizer = expect_labels = None
    if args.store:
        from genolong.data.store import TokenStore

        store = TokenStore(args.store)
        expect_tokenizer, expect_labels = store.tokenizer, store.labels
    annotator = Annotator.from_checkpoint(
        args.checkpoint, expect_tokenizer=expect_tokenizer, expect_labels=expect_labels,
        window=args.window, overlap=args.overlap, batch_size=args.batch_size, device=args.device,
        stitch=args.stitch, p_switch=args.switch_prob, min_length=args.min_length, progress=not args.no_progress,
        transl_table=args.transl_table,
        decode=DecodeConfig(min_length=args.min_gene_length, p_switch=args.switch_prob, min_rna_length=args.min_length,
                            start_model=args.start_model, coding_model=args.coding_model),
        stream=args.stream, function=predictor, rna=args.rna, threads=n_threads, pseudogenes=args.pseudogenes,
        rna_caller=rna_caller, gene_caller=gene_caller, start_caller=start_caller,
        states=predictor is not None and predictor.net.cfg.d_states > 0,
    )
    result = annotator.annotate(args.genome, reference=args.annotation, circular=args.circular)
    result.go_threshold = args.go_threshold
    paths = result.write(args.out, inputs)
    print_throughput(result)
    for path in paths.values():
        print(path)
    return 0
