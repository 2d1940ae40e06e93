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
        experiments=EXPERIMENTS,
        evaluations=[f"{g}:{x}" for g, x in EVALUATIONS],
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/report/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python -m genolong.pipeline_report --results results"
        " --experiments {params.experiments:q} --evaluations {params.evaluations:q}"
        " --tsv {output.tsv:q} --md {output.md:q} > {log:q} 2>&1"
