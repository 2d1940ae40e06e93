# fetch: every genome and annotation file, from a URL or a local path, into resources/.
# `genolong fetch` verifies the sha256, retries transient failures and writes atomically.


rule fetch:
    output:
        "resources/genomes/{genome}/{filename}",
    input:
        fetch_local_input,
    params:
        source=lambda wc: fetch_source(wc).get("url") or fetch_source(wc)["path"],
        sha256=lambda wc: (
            ["--sha256", fetch_source(wc)["sha256"]] if "sha256" in fetch_source(wc) else []
        ),
        # a FASTA's .fai is built once here, before parallel annotate/evaluate jobs read it
        index=lambda wc: ["--index"] if fetch_source(wc) is config["genomes"][wc.genome] else [],
    conda:
        "../envs/genolong.yaml"
    log:
        "logs/fetch/{genome}/{filename}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    shell:
        "genolong fetch {params.source:q} --out {output:q} {params.sha256:q} {params.index}"
        " --retries 3 --quiet > {log:q} 2>&1"
