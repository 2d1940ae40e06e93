# train: genolong-train (Hydra) with each experiment's overrides, in a fixed run directory.
# The overrides are a param, so editing one experiment reruns only that experiment's branch.
# genolong-train makes the experiment's own token store of every training genome (with the
# experiment's k and label scheme: `prepare:` in its Hydra config) under the run directory.


rule train:
    output:
        checkpoint="results/train/{experiment}/checkpoints/best.ckpt",
        metrics="results/train/{experiment}/metrics.json",
        # the CSV logger's per-step log (logger=csv, the default): evaluate plots its curves
        curves="results/train/{experiment}/csv/metrics.csv",
        stores=directory("results/train/{experiment}/stores"),
    input:
        genomes=[genome_file(g) for g in TRAIN_GENOMES],
        annotations=[annotation_file(g) for g in TRAIN_GENOMES if has_separate_annotation(g)],
    params:
        run_dir="results/train/{experiment}",
        data=lambda wc: train_data_overrides(wc.experiment),
        overrides=lambda wc: config["experiments"][wc.experiment],
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "results/benchmarks/train/{experiment}.tsv"
    threads: rule_threads("train")
    resources:
        mem_mb=8000,
        runtime=240,
    shell:
        # A previous run's files (other checkpoints, Lightning logs) would mix with this one's.
        "rm -rf {params.run_dir:q}/checkpoints {params.run_dir:q}/csv {params.run_dir:q}/.hydra && "
        "genolong-train hydra.run.dir={params.run_dir:q} {params.overrides:q} {params.data:q}"
        " > {log:q} 2>&1"


# fit_function: the per-gene function head and the homology index of the training genomes'
# labelled proteins (genolong fit-function), saved beside the checkpoint, where annotate finds
# them; alpha and thresholds are chosen on the stores' validation regions. A checkpoint whose
# label scheme is neither GO nor product classes gets no head: function.json says so.
rule fit_function:
    output:
        summary="results/train/{experiment}/function.json",
    input:
        checkpoint=rules.train.output.checkpoint,
        stores=rules.train.output.stores,
    params:
        stores=lambda wc: [f"{train_stores(wc.experiment)}/{g}" for g in TRAIN_GENOMES],
        # the training genomes' test regions join the kept index only when no evaluation scores them
        splits=["train", "val"] + ([] if any(g in TRAIN_GENOMES for g, _ in EVALUATIONS) else ["test"]),
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/fit_function/{experiment}.log",
    benchmark:
        "results/benchmarks/fit_function/{experiment}.tsv"
    threads: rule_threads("train")
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "genolong fit-function --checkpoint {input.checkpoint:q} --store {params.stores:q}"
        " --index-splits {params.splits} --threads {threads} --no-progress --summary {output.summary:q}"
        " > {log:q} 2>&1"


# after fit_starts when the TIS net is on: fit-genes chooses its weight with the starts annotate places
rule fit_genes:
    output:
        summary="results/train/{experiment}/fit_genes.json",
    input:
        checkpoint=rules.train.output.checkpoint,
        stores=rules.train.output.stores,
        starts=lambda wc: [f"results/train/{wc.experiment}/fit_starts.json"]
        if config.get("start_caller", {}).get("enabled", True) else [],
    params:
        stores=lambda wc: [f"{train_stores(wc.experiment)}/{g}" for g in TRAIN_GENOMES],
        extra=lambda wc: " ".join(config.get("gene_caller", {}).get("args", [])),
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/fit_genes/{experiment}.log",
    benchmark:
        "results/benchmarks/fit_genes/{experiment}.tsv"
    threads: rule_threads("train")
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "genolong fit-genes --checkpoint {input.checkpoint:q} --store {params.stores:q} {params.extra}"
        " --threads {threads} --no-progress --summary {output.summary:q} > {log:q} 2>&1"


rule fit_starts:
    output:
        summary="results/train/{experiment}/fit_starts.json",
    input:
        checkpoint=rules.train.output.checkpoint,
        stores=rules.train.output.stores,
    params:
        stores=lambda wc: [f"{train_stores(wc.experiment)}/{g}" for g in TRAIN_GENOMES],
        extra=lambda wc: " ".join(config.get("start_caller", {}).get("args", [])),
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/fit_starts/{experiment}.log",
    benchmark:
        "results/benchmarks/fit_starts/{experiment}.tsv"
    threads: rule_threads("train")
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "genolong fit-starts --checkpoint {input.checkpoint:q} --store {params.stores:q} {params.extra}"
        " --threads {threads} --no-progress --summary {output.summary:q} > {log:q} 2>&1"
