# evaluate: predictions against the genome's reference annotation, with the baselines beside them
# (genolong evaluate). Its plots go into the HTML report.


rule baseline:
    output:
        "results/baselines/{genome}.json",
    input:
        store=lambda wc: store_dir(wc.genome),
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/baseline/{genome}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "genolong baseline --store {input.store:q} --out {output:q} > {log:q} 2>&1"


rule evaluate:
    output:
        report(
            directory("results/evaluate/{genome}/{experiment}"),
            patterns=["{name}.png"],
            caption="../report/evaluate.rst",
            category="Evaluation",
            subcategory="{genome} / {experiment}",
            labels={"genome": "{genome}", "experiment": "{experiment}", "plot": "{name}"},
        ),
    input:
        gff3=rules.annotate.output.gff3,
        probs=rules.annotate.output.probs,
        genome=lambda wc: genome_file(wc.genome),
        reference=lambda wc: annotation_file(wc.genome),
        # k-mer logistic regression and term prior, fitted on the training genome's train split
        baseline=f"results/baselines/{TRAIN_GENOMES[0]}.json",
        curves=lambda wc: rules.train.output.curves.format(experiment=wc.experiment),
        # on the training genome itself, only its held-out test regions are scored
        store=lambda wc: store_dir(wc.genome) if wc.genome in TRAIN_GENOMES else [],
    params:
        prefix=lambda wc: annotate_prefix(wc.genome, wc.experiment),
        held_out=lambda wc, input: ["--store", input.store, "--split", "test"] if input.store else [],
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/evaluate/{genome}/{experiment}.log",
    threads: rule_threads("evaluate")
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "genolong evaluate --pred {params.prefix:q} --reference {input.reference:q}"
        " --genome {input.genome:q} --baseline {input.baseline:q} --train-log {input.curves:q}"
        " {params.held_out:q} --out {output:q} --threads {threads} > {log:q} 2>&1"
