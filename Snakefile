# genolong pipeline: fetch → prepare → train (Hydra) → annotate → evaluate → report.
# Rules live in workflows/rules/; the configuration in workflows/config.yaml.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "workflows/config.yaml"


validate(config, "workflows/schemas/config.schema.yaml")


report: "workflows/report/workflow.rst"


include: "workflows/rules/common.smk"
include: "workflows/rules/fetch.smk"
include: "workflows/rules/prepare.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/annotate.smk"
include: "workflows/rules/evaluate.smk"
include: "workflows/rules/report.smk"


rule all:
    input:
        all_outputs(),
