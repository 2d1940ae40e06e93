# prepare: tokenize the training genome and its labels into a token store (genolong prepare).


rule prepare:
    output:
        directory("results/stores/{genome}"),
    input:
        genome=lambda wc: genome_file(wc.genome),
        annotation=lambda wc: annotation_file(wc.genome) if has_separate_annotation(wc.genome) else [],
    params:
        labels=lambda wc: config["genomes"][wc.genome].get("labels", "go"),
        annotation=lambda wc, input: ["--annotation", input.annotation] if input.annotation else [],
        split=lambda wc: (
            ["--split", config["genomes"][wc.genome]["split"]]
            if "split" in config["genomes"][wc.genome]
            else []
        ),
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/prepare/{genome}.log",
    threads: rule_threads("prepare")
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "genolong prepare --genome {input.genome:q} {params.annotation:q} --labels {params.labels:q}"
        " --out {output:q} {params.split:q} --threads {threads} > {log:q} 2>&1"
