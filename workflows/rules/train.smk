# train: genolong-train (Hydra) with each experiment's overrides, in a fixed run directory.
# The overrides are a param, so editing one experiment reruns only that experiment's branch.


rule train:
    output:
        checkpoint="results/train/{experiment}/checkpoints/best.ckpt",
        metrics="results/train/{experiment}/metrics.json",
        # the CSV logger's per-step log (logger=csv, the default): evaluate plots its curves
        curves="results/train/{experiment}/csv/metrics.csv",
    input:
        store=store_dir(config["train_genome"]),
    params:
        run_dir="results/train/{experiment}",
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
        "genolong-train data.store_dir={input.store:q} hydra.run.dir={params.run_dir:q}"
        " {params.overrides:q} > {log:q} 2>&1"
