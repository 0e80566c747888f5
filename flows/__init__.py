"""Prefect flows over the nmt library: one flow per stage and a pipeline flow that chains them.

Only orchestration lives here (tasks, retries, artifacts, run names); the work is in nmt/.
"""

import logging
import os

# Forward the library's log lines (progress, rates, ETA) into Prefect's console and run logs.
# Prefect copies its handlers to these loggers but not a level, so INFO is set here.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "nmt")
logging.getLogger("nmt").setLevel(logging.INFO)
