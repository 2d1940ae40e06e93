"""Every config group composes, and each option instantiates into the object it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genolong.errors import GenolongError
from genolong.training.train import build, compose_config, conf_dir
from tests.training.conftest import tiny

CONF = conf_dir()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))  # _x: shared bases


def test_groups_are_all_there():
    for group, expected in {
        "model": {"reformer", "longformer", "transformer"},
        "trainer": {"cpu", "gpu", "ddp"},
        "logger": {"csv", "tensorboard"},
        "debug": {"fdr", "overfit"},
        "task": {"annotate", "mlm"},
        "experiment": {"demo", "chloroplast"},
        "hparams_search": {"optuna"},
    }.items():
        assert expected <= set(options(group)), group
    for group in ("data", "callbacks", "paths"):
        assert options(group), group


@pytest.mark.parametrize("model", options("model"))
def test_model_configs_instantiate(model):
    cfg = compose_config([f"model={model}"], output_dir="unused")
    encoder_config = build(cfg.model, vocab_size=4101)
    assert encoder_config.layer_attention[0] == {"reformer": "lsh", "longformer": "sliding", "transformer": "full"}[model]


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_configs_instantiate(trainer, tmp_path):
    cfg = compose_config([f"trainer={trainer}"], output_dir=tmp_path)
    if trainer == "gpu" and not torch.cuda.is_available():
        # without a GPU, Lightning refuses accelerator=gpu: the rest of the node must still build
        cfg.trainer.accelerator = "cpu"
    built = build(cfg.trainer)
    assert built.max_steps == cfg.trainer.max_steps
    if trainer == "ddp":
        assert type(built.strategy).__name__ == "DDPStrategy"
        assert built.strategy._ddp_kwargs.get("static_graph") is True


def test_data_callbacks_logger_paths_instantiate(plasmid_store, tmp_path):
    cfg = compose_config([f"data.store_dir={plasmid_store}"], output_dir=tmp_path)
    datamodule = build(cfg.data)
    assert datamodule.labels.kind == "single"
    cfg.task.monitor = "val/macro_f1"  # train() resolves "auto" from the store's labels
    names = {type(instantiate(node)).__name__ for node in cfg.callbacks.values()}
    assert {"ModelCheckpoint", "EarlyStopping", "ThroughputMonitor", "RichProgressBar"} <= names
    assert type(instantiate(cfg.logger.csv)).__name__ == "CSVLogger"
    assert Path(cfg.paths.root_dir) == CONF.parent
    assert Path(cfg.paths.data_dir, "mycoides_GM12.gbff.gz").is_file()


def test_tensorboard_logger_instantiates_or_says_what_is_missing(tmp_path):
    cfg = compose_config(["logger=tensorboard"], output_dir=tmp_path)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            with pytest.raises(GenolongError, match="tensorboard"):
                build(cfg.logger.tensorboard)
            return
    assert type(build(cfg.logger.tensorboard)).__name__ == "TensorBoardLogger"


@pytest.mark.parametrize("task", options("task"))
def test_task_configs(task, tmp_path):
    cfg = compose_config([f"task={task}"], output_dir=tmp_path)
    assert cfg.task.name == task
    assert cfg.task.mode in ("min", "max")


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_configs(debug, tmp_path):
    cfg = compose_config([f"debug={debug}"], output_dir=tmp_path)
    if debug == "fdr":
        assert cfg.trainer.fast_dev_run is True
    else:
        assert cfg.data.repeat_batches == 1 and cfg.scheduler is None


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose_and_instantiate(experiment, plasmid_store, tmp_path):
    cfg = compose_config([f"experiment={experiment}"], output_dir=tmp_path)
    if cfg.prepare_genomes is not None:  # several real genomes, one store each, inside the repository
        assert all(Path(g.genome_path).is_file() for g in cfg.prepare_genomes)
        assert len(cfg.data.store_dir) == len(cfg.prepare_genomes)
        assert all(str(s).startswith(str(CONF.parent)) for s in cfg.data.store_dir)
    elif cfg.prepare is not None:  # the experiment names a real genome to prepare, inside the repository
        assert Path(cfg.prepare.genome_path).is_file()
        assert cfg.data.store_dir.startswith(str(CONF.parent))
    else:  # a budget for stores given from outside (experiment=pipeline: Snakemake's)
        assert cfg.data.store_dir is None
    encoder_config = build(cfg.model, vocab_size=4101)
    assert encoder_config.d_model == cfg.model.d_model
    assert build(cfg.trainer).max_steps == cfg.trainer.max_steps
    cfg.data.store_dir = str(plasmid_store)
    # a window longer than the plasmid's longest region is cut to it (issue 21, case 5)
    assert build(cfg.data).window == min(cfg.data.window, 1071)
    optimizer = build(cfg.optimizer)(params=[torch.nn.Parameter(torch.zeros(1))])
    assert build(cfg.scheduler)(optimizer=optimizer) is not None


def test_optuna_sweeper_config_loads():
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert "optimizer.lr" in sweeper.params
    assert instantiate(sweeper.sampler).__class__.__name__ == "TPESampler"


def test_slurm_launcher_config_loads(tmp_path):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "trainer=ddp"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.tasks_per_node == 2
    built = instantiate(OmegaConf.to_container(launcher, resolve=True))
    assert type(built).__name__ == "SlurmLauncher"


def test_missing_store_is_a_user_error(tmp_path):
    from genolong.training.train import train

    cfg = compose_config(tiny(tmp_path / "no_store"), output_dir=tmp_path / "run")
    with pytest.raises(GenolongError, match="not a token store"):
        train(cfg)
