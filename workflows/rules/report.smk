# report: one summary table across experiments (TSV + Markdown) for `snakemake --report`.


rule report:
    output:
        tsv=report(
            "results/report/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "summary (TSV)"},
        ),
        md=report(
            "results/report/summary.md",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "summary (Markdown)"},
        ),
    input:
        train=expand("results/train/{experiment}/metrics.json", experiment=EXPERIMENTS),
        train_benchmarks=expand(
            "results/benchmarks/train/{experiment}.tsv", experiment=EXPERIMENTS
        ),
        evaluations=[evaluate_dir(g, x) for g, x in EVALUATIONS],
        annotate_benchmarks=[
            f"results/benchmarks/annotate/{g}/{x}.tsv" for g, x in EVALUATIONS
        ],
    params:
        # flat argument lists: --train NAME METRICS BENCHMARK, --evaluation GENOME NAME DIR BENCHMARK
        train=[
            arg
            for x in EXPERIMENTS
            for arg in ("--train", x, f"results/train/{x}/metrics.json", f"results/benchmarks/train/{x}.tsv")
        ],
        evaluations=[
            arg
            for g, x in EVALUATIONS
            for arg in (
                "--evaluation",
                f"{g} (test split)" if g in TRAIN_GENOMES else g,
                x,
                evaluate_dir(g, x),
                f"results/benchmarks/annotate/{g}/{x}.tsv",
            )
        ],
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/report/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m genolong.evaluate.pipeline_report {params.train:q} {params.evaluations:q}"
        " --tsv {output.tsv:q} --md {output.md:q} > {log:q} 2>&1"
