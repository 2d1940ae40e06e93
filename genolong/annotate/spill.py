"""Per-token rows of one record kept on disk, so annotation memory does not grow with the record.

A `SpillArray` is written once, in token order, to an anonymous temporary file (already
unlinked: nothing is left behind, whatever happens) and read back in slices with `pread`, which
leaves no pages mapped into the process. The records of one genome share one file
(`SpillFile.array`): they are written one after the other, so each is a contiguous stretch,
and a draft assembly of thousands of contigs holds one file descriptor, not thousands.
`memmap()` hands the whole array to callers that want an ndarray (tests,
`AnnotationResult.probs`, which maps a record only when it is looked up); pages are only read
when touched.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


class SpillFile:
    """One anonymous temporary file that SpillArrays are written into one after the other."""

    def __init__(self, directory: str | None = None):
        self.fh = tempfile.TemporaryFile(dir=directory)

    def array(self, n_cols: int, dtype=np.float32) -> "SpillArray":
        """A new SpillArray starting at the end of the file; finish it before starting the next."""
        return SpillArray(n_cols, dtype, spill_file=self)


class SpillArray:
    """(n_rows, n_cols) array appended row-block by row-block, read back by slices."""

    def __init__(self, n_cols: int, dtype=np.float32, directory: str | None = None,
                 spill_file: SpillFile | None = None):
        self.n_cols = int(n_cols)
        self.dtype = np.dtype(dtype)
        self.n_rows = 0
        self._fh = (spill_file or SpillFile(directory)).fh
        self._fh.seek(0, os.SEEK_END)
        self._offset = self._fh.tell()  # bytes before this array's first row

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, self.n_cols

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.ndim != 2 or rows.shape[1] != self.n_cols:
            raise ValueError(f"rows have shape {rows.shape}, expected (n, {self.n_cols})")
        if self._fh.seek(0, os.SEEK_END) != self._offset + self.n_rows * self.n_cols * self.dtype.itemsize:
            raise ValueError("another array was written into the file after this one")
        self._fh.write(rows.tobytes())
        self.n_rows += rows.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a new in-memory array."""
        start, stop = max(0, int(start)), min(self.n_rows, int(stop))
        if stop <= start:
            return np.zeros((0, self.n_cols), dtype=self.dtype)
        self._fh.flush()
        row = self.n_cols * self.dtype.itemsize
        data = os.pread(self._fh.fileno(), (stop - start) * row, self._offset + start * row)
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, self.n_cols).copy()

    def __len__(self) -> int:
        return self.n_rows

    def __getitem__(self, key):
        """`a[i:j]`, `a[i:j, cols]` or `a[index_array]` (rows read from min to max index)."""
        cols = slice(None)
        if isinstance(key, tuple):
            key, cols = key
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_rows)
            if step != 1:
                raise IndexError("SpillArray slices must have step 1")
            return self.rows(start, stop)[:, cols]
        index = np.asarray(key, dtype=np.int64)
        if index.size == 0:
            return np.zeros((0, self.n_cols), dtype=self.dtype)[:, cols]
        lo, hi = int(index.min()), int(index.max()) + 1
        return self.rows(lo, hi)[index - lo][:, cols]

    def columns(self, cols: slice) -> "ColumnView":
        return ColumnView(self, cols)

    def window(self, start: int, stop: int) -> "SpillArray":
        """Rows [start, stop) as an array of their own over the same file (no copy), for reading
        only: a circular record's own rows among those of its extended sequence (`circular.py`)."""
        start, stop = max(0, int(start)), min(self.n_rows, int(stop))
        view = SpillArray.__new__(SpillArray)
        view.n_cols, view.dtype, view._fh = self.n_cols, self.dtype, self._fh
        view._offset = self._offset + start * self.n_cols * self.dtype.itemsize
        view.n_rows = max(0, stop - start)
        return view

    def memmap(self) -> np.ndarray:
        """The whole array as a read-only memory map (an in-memory empty array when empty)."""
        if self.n_rows == 0:
            return np.zeros((0, self.n_cols), dtype=self.dtype)
        self._fh.flush()
        return np.memmap(self._fh, dtype=self.dtype, mode="r", shape=self.shape, offset=self._offset)



class LazyRecords(dict):
    """seqid -> array, each record's memory map made when it is looked up (a mapping holds a file
    descriptor; thousands of contigs must not hold thousands at once)."""

    def __init__(self, spills: dict, cols: slice):
        super().__init__((s, None) for s in spills)
        self._spills, self._cols = spills, cols

    def __getitem__(self, seqid: str) -> np.ndarray:
        super().__getitem__(seqid)  # KeyError for an unknown record
        return self._spills[seqid].memmap()[:, self._cols]

    def get(self, seqid, default=None):
        return self[seqid] if seqid in self else default

    def values(self):
        return [self[s] for s in self]

    def items(self):
        return [(s, self[s]) for s in self]


class ColumnView:
    """A SpillArray restricted to a slice of its columns, indexed like one."""

    def __init__(self, base: SpillArray, cols: slice):
        self.base, self.cols = base, cols
        self.n_cols = len(range(base.n_cols)[cols])

    @property
    def shape(self) -> tuple[int, int]:
        return self.base.n_rows, self.n_cols

    def __len__(self) -> int:
        return self.base.n_rows

    def __getitem__(self, key):
        inner = slice(None)
        if isinstance(key, tuple):
            key, inner = key
        return self.base[key][:, self.cols][:, inner]
