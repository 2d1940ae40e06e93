"""Real token stores made by the real `genolong prepare`, and tiny-model overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from genolong.data.prepare import prepare

REPO = Path(__file__).resolve().parents[2]
PLASMID = REPO / "tests" / "data" / "NC_005816.gb"
DEFAULT_GENOME = REPO / "data" / "mycoides_GM12.gbff.gz"


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny models run fastest on one thread; on a shared 2-core machine, more threads only wait
    on each other. Subprocesses inherit it through OMP_NUM_THREADS."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def plasmid_store(tmp_path_factory) -> Path:
    """Y. pestis plasmid pPCP1 (9.6 kbp, 1,601 tokens), biotype labels: single-label."""
    out = tmp_path_factory.mktemp("stores") / "plasmid_biotype"
    prepare(PLASMID, out, labels="biotype", split="contiguous:val=0.2;test=0.1;gap=100", progress=False)
    return out


@pytest.fixture(scope="session")
def go_store(tmp_path_factory) -> Path:
    """The default genome (M. mycoides GM12) with GO labels: multilabel with UNKNOWN entries."""
    out = tmp_path_factory.mktemp("stores") / "gm12_go"
    prepare(DEFAULT_GENOME, out, labels="go", top_terms=8, progress=False)
    return out


def tiny(store: Path, *extra: str) -> list[str]:
    """Overrides for a model and run small enough for CI: seconds per run on one CPU core."""
    return [
        f"data.store_dir={store}",
        "data.window=32",
        "data.batch_size=4",
        "data.batches_per_epoch=4",
        "model.d_model=16",
        "model.n_heads=2",
        "model.n_layers=2",
        "model.d_ff=32",
        "model.bucket_size=8",
        "model.n_hashes=1",
        "model.attention_window=8",
        "model.ff_chunks=2",
        "trainer.max_steps=4",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *extra,
    ]
