"""The ground floor: atomic file writes, run folders, Arrow schemas, special tokens, the torch device.

Every other subpackage may import it; it imports nothing of nmt's.
"""

from nmt.core.atomic import (
    atomic_path,
    file_sha256,
    read_json,
    write_bytes,
    write_json,
    write_parquet,
    write_text,
)
from nmt.core.device import resolve_device
from nmt.core.rundir import RunDir

__all__ = [
    "RunDir",
    "atomic_path",
    "file_sha256",
    "read_json",
    "resolve_device",
    "write_bytes",
    "write_json",
    "write_parquet",
    "write_text",
]
