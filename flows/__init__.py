"""Prefect flows over the nmt library: one flow per stage and a pipeline flow that chains them.

Only orchestration lives here (tasks, retries, artifacts, run names); the work is in nmt/.
"""

import os

# Forward the library's own log lines into Prefect run logs (read when prefect configures logging).
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "nmt")
