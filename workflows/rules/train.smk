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
