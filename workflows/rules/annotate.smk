# annotate: a trained checkpoint labels a genome it never saw (genolong annotate).


rule annotate:
    output:
        gff3="results/annotate/{genome}/{experiment}.gff3",
        bed="results/annotate/{genome}/{experiment}.bed",
        genes="results/annotate/{genome}/{experiment}.genes.tsv",
        probs="results/annotate/{genome}/{experiment}.probs.npz",
    input:
        checkpoint=lambda wc: checkpoint_file(wc.experiment),
        # the per-gene function head and homology index beside the checkpoint (when its scheme has one)
        function=lambda wc: f"results/train/{wc.experiment}/function.json",
        # the ORF net and TIS net beside the checkpoint (config gene_caller, start_caller) and the RNA
        # caller (config rna_caller)
        extra=lambda wc: annotate_extra_inputs(wc.experiment),
        genome=lambda wc: genome_file(wc.genome),
        annotation=lambda wc: annotation_file(wc.genome),
        # the checkpoint must match its training stores' tokenizer and labels
        stores=lambda wc: train_stores(wc.experiment),
    params:
        prefix=lambda wc: annotate_prefix(wc.genome, wc.experiment),
        store=lambda wc: f"{train_stores(wc.experiment)}/{TRAIN_GENOMES[0]}",
        rna=lambda wc: f"--rna-caller {shlex.quote(config['rna_caller'])}" if config.get("rna_caller") else "",
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/annotate/{genome}/{experiment}.log",
    benchmark:
        "results/benchmarks/annotate/{genome}/{experiment}.tsv"
    threads: rule_threads("annotate")
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "genolong annotate --checkpoint {input.checkpoint:q} --genome {input.genome:q}"
        " --annotation {input.annotation:q} --store {params.store:q} --out {params.prefix:q} {params.rna} --threads {threads}"
        " > {log:q} 2>&1"
