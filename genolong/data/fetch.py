"""`genolong fetch`: copy a genome or annotation from a URL or a local path, verified and atomic.

The sha256, when given, is checked on the bytes exactly as they come from the source (the
compressed bytes for a `.gz`), which is how archives such as NCBI publish their checksums.
The output name decides the compression: a `.gz` source fetched to a name without `.gz` is
decompressed on the way; otherwise the bytes are kept as they are. A gzip stream is always read
to its end, so a truncated archive fails here and not three rules later.
Transient network failures (connection errors, timeouts, HTTP 5xx, short reads) are retried with
a growing pause; a 4xx or a checksum mismatch is final. Nothing reaches the output path unless
the whole copy succeeded.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from genolong.atomic import atomic_path
from genolong.errors import GenolongError

URL_SCHEMES = ("http", "https", "ftp", "file")
CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchResult:
    path: Path
    sha256: str  # of the source bytes, before any decompression
    n_bytes: int  # source bytes read
    attempts: int


class _Transient(Exception):
    """A failure worth retrying: the same request may well succeed a moment later."""


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme.lower() in URL_SCHEMES


def _is_gz(name: str) -> bool:
    return name.lower().endswith((".gz", ".bgz"))


@contextmanager
def _open_source(source: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None]]:
    """Yield (stream, expected length or None); raise _Transient or GenolongError on failure."""
    if not is_url(source):
        path = Path(source)
        if not path.is_file():
            raise GenolongError(f"{source}: no such file")
        with open(path, "rb") as fh:
            yield fh, path.stat().st_size
        return
    request = urllib.request.Request(source, headers={"User-Agent": "genolong-fetch"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise GenolongError(f"{source}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, FileNotFoundError) or "No such file" in str(reason):
            raise GenolongError(f"{source}: no such file") from exc
        raise _Transient(str(reason)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(str(exc)) from exc
    with response:
        length = response.headers.get("Content-Length") if response.headers else None
        yield response, int(length) if length and length.isdigit() else None


def _progress(total: int | None, label: str, quiet: bool):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=quiet,
    )
    return progress, progress.add_task(label, total=total)


def _copy_once(source: str, tmp: Path, gunzip: bool, check_gzip: bool, timeout: float, quiet: bool):
    """One attempt: stream source → tmp, hashing the source bytes. Returns (sha256, n_bytes)."""
    digest = hashlib.sha256()
    n_bytes = 0
    gz = _Gunzip(source) if (gunzip or check_gzip) else None
    with _open_source(source, timeout) as (stream, expected), open(tmp, "wb") as out:
        progress, task = _progress(expected, Path(urllib.parse.urlparse(source).path).name, quiet)
        with progress:
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"read failed after {n_bytes} bytes: {exc}") from exc
                if not chunk:
                    break
                n_bytes += len(chunk)
                digest.update(chunk)
                progress.update(task, advance=len(chunk))
                plain = gz.feed(chunk) if gz is not None else chunk
                out.write(plain if gunzip else chunk)
        if expected is not None and n_bytes != expected:
            raise _Transient(f"short read: got {n_bytes} of {expected} bytes")
        if gz is not None:
            gz.finish()
    return digest.hexdigest(), n_bytes


class _Gunzip:
    """Streaming gzip decoder that follows concatenated members (bgzip writes many)."""

    def __init__(self, source: str):
        self._source = source
        self._inflater = zlib.decompressobj(wbits=31)
        self._in_member = False

    def feed(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            self._in_member = True
            try:
                out.append(self._inflater.decompress(chunk))
            except zlib.error as exc:
                raise GenolongError(f"{self._source}: not a valid gzip stream: {exc}") from exc
            if not self._inflater.eof:
                break
            chunk = self._inflater.unused_data
            self._inflater = zlib.decompressobj(wbits=31)
            self._in_member = False
        return b"".join(out)

    def finish(self) -> None:
        if self._in_member:
            raise GenolongError(f"{self._source}: gzip stream is truncated")


def fetch(
    source: str,
    out: str | Path,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    quiet: bool = False,
    log: Callable[[str], None] = print,
) -> FetchResult:
    """Copy `source` (http/https/ftp/file URL or local path) to `out`, verified and atomic."""
    out = Path(out)
    expected_sha = sha256.strip().lower() if sha256 else None
    if expected_sha is not None and (
        len(expected_sha) != 64 or any(c not in "0123456789abcdef" for c in expected_sha)
    ):
        raise GenolongError(f"{source}: sha256 {sha256!r} is not 64 hexadecimal digits")
    source_name = urllib.parse.urlparse(source).path if is_url(source) else source
    gunzip = _is_gz(source_name) and not _is_gz(out.name)
    check_gzip = _is_gz(source_name) and not gunzip
    attempts = 0
    while True:
        attempts += 1
        try:
            with atomic_path(out) as tmp:
                digest, n_bytes = _copy_once(source, tmp, gunzip, check_gzip, timeout, quiet)
                if n_bytes == 0:
                    raise GenolongError(f"{source}: source is empty")
                if expected_sha is not None and digest != expected_sha:
                    raise GenolongError(
                        f"{source}: sha256 mismatch: expected {expected_sha}, got {digest}; "
                        f"nothing written to {out}"
                    )
            return FetchResult(out, digest, n_bytes, attempts)
        except _Transient as exc:
            if attempts > retries:
                raise GenolongError(
                    f"{source}: download failed after {attempts} attempts: {exc}"
                ) from exc
            pause = backoff * 2 ** (attempts - 1)
            log(f"{source}: attempt {attempts} failed ({exc}); retrying in {pause:g} s")
            time.sleep(pause)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="http(s)/ftp/file URL or local path; .gz is allowed")
    parser.add_argument(
        "--out", required=True, type=Path,
        help="output file; a .gz source is decompressed unless OUT also ends in .gz",
    )
    parser.add_argument("--sha256", help="expected sha256 of the source bytes (as published)")
    parser.add_argument("--retries", type=int, default=3, help="retries on transient failures")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout, seconds")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--index", action="store_true",
        help="open the fetched genome once, so a FASTA's .fai index is built here and not by "
             "several later readers at the same time",
    )


def run(args: argparse.Namespace) -> int:
    if args.retries < 0:
        raise GenolongError(f"--retries {args.retries}: must be 0 or more")
    result = fetch(
        args.source, args.out, sha256=args.sha256, retries=args.retries,
        timeout=args.timeout, quiet=args.quiet,
    )
    if args.index:
        from genolong.data.genome import open_genome

        with open_genome(result.path) as genome:
            n_records = len(genome.ids)
        print(f"{result.path}: {n_records} records, index ready")
    print(f"{result.path}\tsha256={result.sha256}\tbytes={result.n_bytes}\tattempts={result.attempts}")
    return 0
