# evaluate: predictions against the genome's reference annotation, with the baselines beside them
# (genolong evaluate). Its plots go into the HTML report.


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
    params:
        prefix=lambda wc: annotate_prefix(wc.genome, wc.experiment),
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
        " --genome {input.genome:q} --out {output:q} > {log:q} 2>&1"
