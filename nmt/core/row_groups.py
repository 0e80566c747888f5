"""A Parquet file written row group by row group as rows arrive, renamed into place when complete."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from nmt.core.atomic import atomic_path

DEFAULT_ROWS = 128 * 1024  # the row group of nmt.core.atomic.write_parquet


class RowGroupWriter:
    """Buffers added rows and writes row groups of exactly `rows` rows (the last one fewer).

    Used as a context manager: the file is written under a temporary name and renamed onto
    `path` only when the block succeeds. The bytes equal `write_parquet` of all the rows at once
    with the same row group size, so streaming a table changes nothing for its readers.
    Row groups are encoded and written on a thread of their own (pyarrow releases the GIL
    there), one at a time, while the caller makes the next rows; an error of a write is
    raised by the next `add` or on exit.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        schema: pa.Schema,
        rows: int = DEFAULT_ROWS,
        compression: str = "zstd",
        use_dictionary: bool | list[str] = True,
    ) -> None:
        self.path, self.schema, self.rows = Path(path), schema, rows
        self._options = {"compression": compression, "use_dictionary": use_dictionary}
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._written = 0
        self._atomic = atomic_path(self.path)
        self._writer: pq.ParquetWriter | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self._in_flight: Future | None = None  # the row groups being written

    def __enter__(self) -> RowGroupWriter:
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema, **self._options)
        return self

    def _wait(self) -> None:
        """Let the write in flight finish; raise its error."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def add(self, rows: pa.Table | pa.RecordBatch) -> None:
        """Append rows (of this writer's schema); full row groups are written at once."""
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.rows:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables(self._pending)
        full = table.num_rows if final else table.num_rows - table.num_rows % self.rows
        if full or (final and not self._written):  # an empty file still gets its one empty write
            self._wait()
            self._in_flight = self._thread.submit(
                self._writer.write_table, table.slice(0, full), row_group_size=self.rows
            )
            self._written += full
        rest = table.slice(full)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            if kind is None:
                if not self._pending:
                    self._pending = [self.schema.empty_table()]
                self._flush(final=True)
                self._wait()
        except BaseException as error:
            self._close()
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self._close()
        return self._atomic.__exit__(kind, exc, tb)

    def _close(self) -> None:
        """Finish (or give up) the write in flight, stop the writing thread and close the file."""
        with contextlib.suppress(BaseException):  # on an error the block's own error is the one to raise
            self._wait()
        self._thread.shutdown()
        self._writer.close()
