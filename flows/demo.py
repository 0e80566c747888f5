"""`make demo`: the pipeline flow on the generated corpus, then the run's summary.

python -m flows.demo [--minutes M] [--run-root DIR]
"""

import argparse
from pathlib import Path

from flows.pipeline import pipeline
from nmt import report
from nmt.pipeline import demo_config


def main() -> None:
    """Run the demo pipeline flow and print the summary of every stage."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=6.0, help="training time budget")
    parser.add_argument("--run-root", type=Path, default=Path("data/runs"))
    args = parser.parse_args()
    result = pipeline(demo_config(args.run_root, args.minutes))
    print()
    print(report.to_text(result))


if __name__ == "__main__":
    main()
