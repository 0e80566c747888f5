"""Where training's token data comes from: TOKENS files cached as memory-mapped flat arrays.

The first run over a TOKENS file (train.parquet, or a subword-sampled copy) streams it with
`nmt.text.tokenization.iter_tokens`, one record batch at a time, into flat native-endian arrays
under `<train out_dir>/tokens/<name>/`:

    ids.int64          [N]      pair ids
    src_values.int32   [sum of source lengths]  the piece ids of every source, one after another
    src_offsets.int64  [N+1]    source i is src_values[src_offsets[i] : src_offsets[i + 1]]
    tgt_values.int32, tgt_offsets.int64         the same for the targets
    source.json        the Parquet file's path, size and mtime, written last: it marks a
                       complete cache, and a cache whose file has changed since is rebuilt

Training maps the ids and offsets read-only (numpy.memmap) and reads the values row by row
with pread (FileValues): nothing is built per sentence, the corpus is held once (in the page
cache, shared by every process on the machine, and evictable), the epoch plan is built from
the lengths (differences of the offsets), and each DDP rank reads only the rows of its own
batches. The values are not mapped because a mapping's resident pages stay in the process's
RSS: a page fault maps the pages around it too (the kernel's fault-around), so 20 steps over
a 4M-pair cache had mapped 1 GB of rows no batch read. Under torchrun the first process of
each machine (LOCAL_RANK 0) builds the cache while the others wait.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nmt.core.atomic import atomic_path, read_json, write_json
from nmt.model.bahdanau import SPECIALS
from nmt.model.batching import TokenData
from nmt.text.tokenization import SAMPLED_DIR, iter_tokens
from nmt.train.distributed import Distributed

logger = logging.getLogger(__name__)

ARRAYS = {
    "ids": np.int64,
    "src_values": np.int32,
    "src_offsets": np.int64,
    "tgt_values": np.int32,
    "tgt_offsets": np.int64,
}
MARKER = "source.json"
TOKENS_CACHE = "tokens"  # the cache's folder in the train out_dir


def _array_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.{np.dtype(ARRAYS[name]).name}"


def _source(parquet: Path) -> dict[str, str | int]:
    """What identifies the state of a TOKENS file: its path, size and modification time."""
    stat = parquet.stat()
    return {"path": str(parquet.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def build_cache(tokenize_dir: Path, name: str, folder: Path, batch_rows: int = 65536) -> bool:
    """Write the arrays of <tokenize_dir>/<name>.parquet into `folder` unless current; True if written."""
    source = _source(Path(tokenize_dir) / f"{name}.parquet")
    marker = folder / MARKER
    if marker.exists() and {k: v for k, v in read_json(marker).items() if k != "rows"} == source:
        return False
    marker.unlink(missing_ok=True)
    rows, ends = 0, {"src": 0, "tgt": 0}
    with contextlib.ExitStack() as stack:
        # Each file is closed (LIFO) before its atomic_path renames it into place.
        files = {
            k: stack.enter_context(stack.enter_context(atomic_path(_array_path(folder, k))).open("wb"))
            for k in ARRAYS
        }
        for side in ends:
            files[f"{side}_offsets"].write(np.zeros(1, np.int64).tobytes())
        for batch in iter_tokens(tokenize_dir, name, batch_rows):
            files["ids"].write(batch.column("id").to_numpy().astype(np.int64).tobytes())
            for side in ends:
                lists = batch.column(f"{side}_ids")
                values = lists.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
                offsets = lists.offsets.to_numpy().astype(np.int64)  # [rows+1], not rebased to 0
                files[f"{side}_values"].write(values.tobytes())
                files[f"{side}_offsets"].write((offsets[1:] - offsets[0] + ends[side]).tobytes())
                ends[side] += len(values)
            rows += batch.num_rows
    write_json(marker, {**source, "rows": rows})
    logger.info("cached %d rows of %s as flat arrays in %s", rows, source["path"], folder)
    return True


class FileValues:
    """A flat array in a file whose slices are read with pread: copied in on demand, never mapped."""

    def __init__(self, path: Path, dtype: type[np.generic]):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._len = os.fstat(self._fd).st_size // self.dtype.itemsize

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: slice) -> np.ndarray:
        """Elements key.start to key.stop (step 1) as a new array."""
        start, stop, step = key.indices(self._len)
        if step != 1:
            raise ValueError(f"{self.path}: only contiguous slices are read, not step {step}")
        out = np.empty(max(stop - start, 0), self.dtype)
        buffer, offset, done = memoryview(out).cast("B"), start * self.dtype.itemsize, 0
        while done < len(buffer):  # a read may return less than asked (at most 2 GiB at once)
            got = os.preadv(self._fd, [buffer[done:]], offset + done)
            if got == 0:
                raise EOFError(f"{self.path} ended at byte {offset + done} of {offset + len(buffer)}")
            done += got
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The whole file as an array (for small files and checks)."""
        return np.asarray(self[:], dtype)

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.close(self._fd)


def open_cache(folder: Path) -> TokenData:
    """The TokenData of a cache written by build_cache: ids and offsets mapped, values read by row."""

    def opened(name: str) -> np.ndarray | FileValues:
        if name.endswith("_values"):
            return FileValues(_array_path(folder, name), ARRAYS[name])
        path = _array_path(folder, name)
        if path.stat().st_size == 0:  # numpy cannot map an empty file
            return np.zeros(0, ARRAYS[name])
        return np.asarray(np.memmap(path, ARRAYS[name], mode="r"))

    return TokenData(*(opened(name) for name in ARRAYS))


def token_arrays(tokenize_dir: Path, name: str, cache_dir: Path, ddp: Distributed) -> TokenData:
    """The TOKENS file <tokenize_dir>/<name>.parquet as mapped flat arrays, cached in <cache_dir>/<name>."""
    folder = cache_dir / name
    if ddp.local_rank == 0:
        build_cache(tokenize_dir, name, folder)
    ddp.barrier()
    return open_cache(folder)


def sampled_epochs(
    tokenize_dir: Path, train: TokenData, load: Callable[[str], TokenData]
) -> Callable[[int], TokenData]:
    """Epoch -> the TokenData of sampled/train-<epoch % K>.parquet; checks the K copies exist.

    K is the tokenize manifest's `sampled_copies` (without a manifest: the highest copy number
    present + 1). Every copy must hold the rows of train.parquet, in the same order. `load`
    reads a TOKENS file by its name in the tokenize directory (`sampled/train-0`).
    """
    folder = tokenize_dir / SAMPLED_DIR
    manifest = tokenize_dir / "manifest.json"
    if manifest.exists():
        k = int(json.loads(manifest.read_text(encoding="utf-8"))["settings"]["sampled_copies"])
    else:
        found = [p.stem.removeprefix("train-") for p in folder.glob("train-*.parquet")]
        k = max((int(n) + 1 for n in found if n.isdigit()), default=0)
    names = [f"{SAMPLED_DIR}/train-{i}" for i in range(k)]
    missing = [f"{n.split('/')[1]}.parquet" for n in names if not (tokenize_dir / f"{n}.parquet").exists()]
    if not names or missing:
        raise FileNotFoundError(
            f"subword_sampling=True needs the subword-sampled train copies in {folder} "
            f"(missing: {missing or 'train-0.parquet ...'}); run the tokenize stage with "
            "sampled_copies=K (K >= 1) or train with subword_sampling=False"
        )

    def read(epoch: int) -> TokenData:
        name = names[epoch % k]
        data = load(name)
        if not np.array_equal(data.ids, train.ids):
            raise ValueError(
                f"{tokenize_dir / name}.parquet does not hold the rows of train.parquet in the same order"
            )
        logger.info("epoch %d reads %s.parquet", epoch, tokenize_dir / name)
        return data

    return read


def target_pieces(data: TokenData, vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """The piece ids that occur in data's targets and the special pieces, sorted: an output vocabulary."""
    seen = np.zeros(vocab_size, bool)
    seen[SPECIALS] = True  # ids 0-3: the smallest, so they come first
    for start in range(0, len(data.tgt_values), chunk):
        seen[data.tgt_values[start : start + chunk]] = True
    return np.flatnonzero(seen)
