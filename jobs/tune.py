"""`ray job submit` entrypoint for ``base-dist tune``: A Ray Tune search over meta-hyper-parameters.

Takes exactly the flags of ``base-dist tune`` (``--config PATH``, ``--set KEY=VALUE``, ``--run-dir DIR``, ...)
and runs the same code; see jobs/README.md and ``python jobs/tune.py --help``.

Example:
    $ ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python jobs/tune.py --config jobs/configs/demo.yaml --run-dir /shared/runs/tune-demo
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _entry import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("tune"))
