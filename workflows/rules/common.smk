# Config lookups and path helpers shared by the rules. No rule lives here.
import os
import shlex
from urllib.parse import urlparse

from snakemake.exceptions import WorkflowError

# The conda environment (workflows/envs/genolong.yaml) pip-installs genolong from this checkout.
os.environ.setdefault("GENOLONG_SRC", os.path.dirname(workflow.basedir))


def _source_name(source):
    """The file name a source lands under in resources/: its own, so readers see the format."""
    location = source.get("url") or source["path"]
    name = os.path.basename(urlparse(location).path if "url" in source else location)
    if not name:
        raise WorkflowError(f"config: {location}: no file name in this source")
    return name


def _train_genomes():
    """`train_genomes:` (a list), or the older single `train_genome:`."""
    if config.get("train_genomes"):
        return list(config["train_genomes"])
    if config.get("train_genome"):
        return [config["train_genome"]]
    raise WorkflowError("config: train_genomes: no training genome given")


def _check_config():
    genomes = config["genomes"]
    key = "train_genomes" if config.get("train_genomes") else "train_genome"
    for name in _train_genomes():
        if name not in genomes:
            raise WorkflowError(f"config: {key} {name!r} is not in genomes")
    for entry in config.get("evaluations", []):
        if entry["genome"] not in genomes:
            raise WorkflowError(f"config: evaluations: unknown genome {entry['genome']!r}")
        for name in entry["experiments"]:
            if name not in config["experiments"]:
                raise WorkflowError(f"config: evaluations: unknown experiment {name!r}")
    for name, genome in genomes.items():
        if "annotation" in genome and _source_name(genome["annotation"]) == _source_name(genome):
            raise WorkflowError(f"config: genomes: {name}: sequence and annotation share a file name")


def _conf_dir():
    """The repository's Hydra conf/ (beside the Snakefile), or None."""
    for folder in (workflow.basedir, os.path.dirname(workflow.basedir), os.path.dirname(os.path.dirname(workflow.basedir))):
        if os.path.isfile(os.path.join(folder, "conf", "train.yaml")):
            return os.path.join(folder, "conf")
    return None


def _experiment_settings(name, overrides):
    """(label scheme of the experiment's stores, trainer.max_steps, data.batches_per_epoch) from its
    composed Hydra config; None where Hydra is not importable here (the jobs still check)."""
    conf = _conf_dir()
    try:
        from hydra import compose, initialize_config_dir
        from omegaconf import OmegaConf
    except ImportError:
        return None
    if conf is None:
        return None
    try:
        with initialize_config_dir(conf, version_base="1.3"):
            cfg = compose("train", overrides=list(overrides))
    except Exception as exc:  # Hydra's composition errors share no base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkflowError(f"config: experiments: {name}: its overrides do not compose: {first}")
    labels = OmegaConf.select(cfg, "prepare.labels", default=None) or "go"  # prepare()'s default
    return str(labels), OmegaConf.select(cfg, "trainer.max_steps"), OmegaConf.select(cfg, "data.batches_per_epoch")


def _check_experiments():
    """Refuse, before the first job, experiments that would train and then fail: a label scheme
    the genome's held-out/baseline store (prepared with `labels:`, else go) does not share, or a
    run too short to validate once (so no best.ckpt, which the train rule promises)."""
    genomes = config["genomes"]
    # the stores made by the prepare rule: the baseline's, and held-out regions of trained genomes
    stored = {TRAIN_GENOMES[0]} | {g for g, _ in EVALUATIONS if g in TRAIN_GENOMES}
    for name in EXPERIMENTS:
        settings = _experiment_settings(name, config["experiments"][name])
        if settings is None:
            return
        labels, max_steps, per_epoch = settings
        for genome in sorted(stored):
            if "labels" not in genomes[genome] and labels != "go":
                raise WorkflowError(
                    f"config: genomes: {genome}: no labels:, so its store (baseline, held-out regions) is "
                    f"prepared with go, but experiment {name} trains with {labels!r} (its prepare.labels); "
                    f"set genomes: {genome}: labels: {labels}")
        if isinstance(max_steps, int) and isinstance(per_epoch, int) and 0 < max_steps < per_epoch:
            raise WorkflowError(
                f"config: experiments: {name}: trainer.max_steps={max_steps} is below "
                f"data.batches_per_epoch={per_epoch}: training ends before its first validation and writes "
                "no best.ckpt; raise max_steps or lower batches_per_epoch")


_check_config()

# Every experiment trains on these, in this order; the first one's store sets the label vocabulary
# and fits the baselines.
TRAIN_GENOMES = _train_genomes()

EXPERIMENTS = sorted(config["experiments"])
EVALUATIONS = sorted(
    {(e["genome"], x) for e in config.get("evaluations", []) for x in e["experiments"]}
)

_check_experiments()


wildcard_constraints:
    genome="[A-Za-z0-9][A-Za-z0-9_.-]*",
    experiment="[A-Za-z0-9][A-Za-z0-9_.-]*",
    filename="[^/]+",


def rule_threads(rule_name):
    return config.get("threads", {}).get(rule_name, 1)


def genome_file(genome):
    """Where the genome's sequence (FASTA or GenBank) is fetched to."""
    return f"resources/genomes/{genome}/{_source_name(config['genomes'][genome])}"


def annotation_file(genome):
    """The reference annotation: the separate file when given, else the GenBank itself."""
    entry = config["genomes"][genome]
    if "annotation" in entry:
        return f"resources/genomes/{genome}/{_source_name(entry['annotation'])}"
    return genome_file(genome)


def has_separate_annotation(genome):
    return "annotation" in config["genomes"][genome]


def fetch_source(wildcards):
    """The config entry (url or path + sha256) that resources/genomes/{genome}/{filename} comes from."""
    entry = config["genomes"][wildcards.genome]
    candidates = [entry] + ([entry["annotation"]] if "annotation" in entry else [])
    for source in candidates:
        if _source_name(source) == wildcards.filename:
            return source
    raise WorkflowError(f"no configured source for resources/genomes/{wildcards.genome}/{wildcards.filename}")


def fetch_local_input(wildcards):
    """A local source is an input, so editing the file refetches it; a URL has none."""
    source = fetch_source(wildcards)
    return [source["path"]] if "path" in source else []


def store_dir(genome):
    return f"results/stores/{genome}"


def train_stores(experiment):
    """The experiment's own token stores (its k and label scheme), made by genolong-train."""
    return f"results/train/{experiment}/stores"


def _hydra_string(value):
    """A Hydra override value quoted, so paths and specs with ':' or ',' stay one string."""
    text = str(value)
    if "'" in text:
        raise WorkflowError(f"config: {text!r}: a quote (') in a path or setting is not supported")
    return f"'{text}'"


def train_data_overrides(experiment):
    """data.store_dir and prepare_genomes for genolong-train: one store per training genome, each
    made from the genome's files; a genome's own `labels:` / `split:` win over the experiment's."""
    stores, entries = [], []
    for genome in TRAIN_GENOMES:
        entry = config["genomes"][genome]
        stores.append(_hydra_string(f"{train_stores(experiment)}/{genome}"))
        fields = {"genome_path": genome_file(genome)}
        if "annotation" in entry:
            fields["annotation_path"] = annotation_file(genome)
        for key in ("labels", "split"):
            if key in entry:
                fields[key] = entry[key]
        entries.append("{" + ",".join(f"{k}:{_hydra_string(v)}" for k, v in fields.items()) + "}")
    return [f"data.store_dir=[{','.join(stores)}]", f"prepare_genomes=[{','.join(entries)}]"]


def checkpoint_file(experiment):
    return f"results/train/{experiment}/checkpoints/best.ckpt"


def annotate_extra_inputs(experiment):
    """What an annotate job reads besides the checkpoint: the ORF net's fit (gene_caller.pt beside
    the checkpoint) when config gene_caller is on, the TIS net's (start_caller.pt) when config
    start_caller is on, and the RNA caller of config rna_caller."""
    extra = []
    if config.get("gene_caller", {}).get("enabled", True):
        extra.append(f"results/train/{experiment}/fit_genes.json")
    if config.get("start_caller", {}).get("enabled", True):
        extra.append(f"results/train/{experiment}/fit_starts.json")
    if config.get("rna_caller"):
        extra.append(config["rna_caller"])
    return extra


def annotate_prefix(genome, experiment):
    return f"results/annotate/{genome}/{experiment}"


def evaluate_dir(genome, experiment):
    return f"results/evaluate/{genome}/{experiment}"


def all_outputs():
    outputs = [checkpoint_file(x) for x in EXPERIMENTS]
    outputs += [f"{annotate_prefix(g, x)}.gff3" for g, x in EVALUATIONS]
    outputs += [evaluate_dir(g, x) for g, x in EVALUATIONS]
    outputs += ["results/report/summary.tsv", "results/report/summary.md"]
    return outputs
