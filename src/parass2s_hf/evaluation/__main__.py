"""`python -m parass2s_hf.evaluation ...` is `parass2s evaluate ...`; under `torchrun` or `accelerate launch` each process
evaluates its shard of the run (`EvaluationConfig.num_shards` from `WORLD_SIZE`, `shard_index` from `RANK`):

    accelerate launch --num_processes 4 -m parass2s_hf.evaluation --system cascade --dataset_config synthetic --output runs/x
"""

import sys

from .cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main())
