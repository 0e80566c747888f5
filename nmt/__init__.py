"""Batch neural machine translation with the Bahdanau, Cho and Bengio (2014) attention model.

    import nmt
    model = nmt.load("data/runs/my-run")     # a run, an export, a registered model id or a pair
    print(model.translate("Ein Mann läuft."))

The public names are imported on first use (module __getattr__), so `import nmt` loads no torch;
it sets OpenMP's spin-wait for when torch loads (below; nmt.core.cores says why).
"""

import importlib
import os

# libgomp (torch's OpenMP) reads how long idle threads spin once, when torch loads: set it here,
# before any nmt module imports torch, unless the user chose (nmt.core.cores says why).
SPIN_COUNT = "10000"
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT

__version__ = "0.1.0"

_PUBLIC = {
    "load": "nmt.api",
    "export": "nmt.api",
    "TranslationModel": "nmt.api",
    "run_acquire": "nmt.data.acquire",
    "run_tokenize": "nmt.text.tokenization",
    "run_train": "nmt.train.run",
    "run_evaluate": "nmt.evaluate.scores",
    "run_translate": "nmt.translate.job",
    "run_align": "nmt.evaluate.forced",
    "run_pipeline": "nmt.pipeline",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    """The public names above, imported from their module on first use."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'nmt' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
