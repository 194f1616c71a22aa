"""`ray job submit` entrypoint for ``base-dist train``: Retrain a discrete genotype as a full network.

Takes exactly the flags of ``base-dist train`` (``--config PATH``, ``--set KEY=VALUE``, ``--run-dir DIR``, ...)
and runs the same code; see jobs/README.md and ``python jobs/train.py --help``.

Example:
    $ ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python jobs/train.py --config jobs/configs/demo.yaml --run-dir /shared/runs/train-demo
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _entry import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("train"))
