"""`genolong inspect DIR`: records, lengths, class balance and split sizes of a token store."""

from __future__ import annotations

import argparse

from genolong.data.split import SPLITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", metavar="DIR", help="token store written by `genolong prepare`")
    parser.add_argument("--top", type=int, default=30, help="classes to list (default: 30)")


def class_balance(store) -> list[tuple[str, int, int]]:
    """(class, positive tokens, unknown tokens) over all records, streamed per record."""
    import numpy as np

    from genolong.data.labels import UNKNOWN

    vocab = store.labels
    pos = np.zeros(vocab.n_outputs, dtype=np.int64)
    unk = np.zeros(vocab.n_outputs, dtype=np.int64)
    step = 1 << 20
    for seqid in store.seqids:
        t = store.targets(seqid)
        for a in range(0, t.shape[0], step):
            block = np.asarray(t[a : a + step])
            if vocab.kind == "single":
                counts = np.bincount(block, minlength=256)
                pos += counts[: vocab.n_outputs]
                unk[0] += counts[UNKNOWN]
            else:
                pos += (block == 1).sum(axis=0)
                unk += (block == UNKNOWN).sum(axis=0)
    return [(c, int(p), int(u)) for c, p, u in zip(vocab.classes, pos, unk)]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from genolong.data.store import TokenStore

    store = TokenStore(args.store)
    console = Console()
    meta = store.meta
    tk = meta["tokenizer"]
    console.print(f"[bold]{store.path}[/bold]  k={tk['k']} stride={tk['stride']} vocab={tk['vocab_size']} "
                  f"labels={store.labels.scheme} ({store.labels.kind}, {store.labels.n_outputs} outputs)")
    console.print(f"genome: {meta['inputs']['genome']['path']}  split: {meta['split']['spec']}")

    records = Table(title="records")
    for col in ("seqid", "length (bp)", "tokens", "file"):
        records.add_column(col, justify="right" if col in ("length (bp)", "tokens") else "left")
    for seqid, rec in store.records.items():
        records.add_row(seqid, f"{rec['length']:,}", f"{rec['n_tokens']:,}", rec["file"])
    console.print(records)

    total = sum(r["n_tokens"] for r in store.records.values()) or 1
    splits = Table(title="split")
    for col in ("split", "regions", "tokens", "fraction"):
        splits.add_column(col, justify="left" if col == "split" else "right")
    for name in SPLITS:
        regs = store.regions(name)
        n = sum(r.n_tokens for r in regs)
        splits.add_row(name, str(len(regs)), f"{n:,}", f"{n / total:.3f}")
    console.print(splits)

    balance = Table(title="class balance (tokens)")
    for col in ("class", "description", "tokens", "fraction", "unknown"):
        balance.add_column(col, justify="left" if col in ("class", "description") else "right")
    rows = class_balance(store)
    shown = rows if store.labels.kind == "single" else rows[:1] + sorted(rows[1:], key=lambda r: -r[1])
    for cls, p, u in shown[: args.top]:
        balance.add_row(cls, store.labels.descriptions.get(cls, "")[:40], f"{p:,}", f"{p / total:.3f}", f"{u:,}")
    console.print(balance)
    leak = meta["split"].get("leak", {})
    if leak:
        console.print(f"leak check: {leak['leaked_tiles']} of {leak['train_tiles']} train {leak['window']} bp windows "
                      f"found verbatim in val/test (~{leak['leaked_fraction']:.2%} of held-out bp)")
    return 0
