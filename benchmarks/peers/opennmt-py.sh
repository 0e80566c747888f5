#!/usr/bin/env bash
# Install OpenNMT-py 3.5.1, the training-speed peer of benchmarks/train.py --peer, into its own venv.
#
#   bash benchmarks/peers/opennmt-py.sh [VENV]      (default data/bench/opennmt-py)
#
# It runs on the same CPU torch as the project (2.13.0): the wheel pins torch<2.3, which would
# download another torch with gigabytes of CUDA packages, so it is installed without dependencies
# and the modules its training imports are installed by hand. Its transforms package imports spacy
# at the top level for a transform training never uses (terminology); a stub module stands in for
# it rather than a 35 MB download.
set -euo pipefail
VENV=${1:-data/bench/opennmt-py}
python3 -m venv "$VENV"
echo "torch==2.13.0" > "$VENV/constraints.txt"
PIP=("$VENV/bin/pip" install -q -c "$VENV/constraints.txt")
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" --no-deps OpenNMT-py==3.5.1
"${PIP[@]}" numpy configargparse pyyaml six sentencepiece "pyonmttok>=1.37,<2" \
  pyahocorasick rapidfuzz regex sacrebleu fasttext-wheel
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
mkdir -p "$SITE/spacy"
printf 'def load(*args, **kwargs):\n    raise ImportError("spacy is a stub here: the peer benchmark needs no terminology transform")\n' \
  > "$SITE/spacy/__init__.py"
"$VENV/bin/onmt_train" -h > /dev/null
echo "OpenNMT-py 3.5.1 ready: .venv/bin/python benchmarks/train.py --peer $VENV"
