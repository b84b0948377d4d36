"""Run evaluate() on the tiny boxed data set from a subprocess (resume and torchrun tests):
``python evaluate_script.py OUT COUNT`` writes OUT/results.json (rank 0)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.evaluation import boxed_dataset, tiny_model  # noqa: E402

from seewhy.evaluate import EvaluationRequest, evaluate  # noqa: E402
from seewhy.evaluate.distributed import join  # noqa: E402
from seewhy.evaluate.report import write_outputs  # noqa: E402

METRICS = {
    "pointing": {},
    "energy_pointing": {},
    "box_accuracy": {},
    "deletion": {"pixels_per_step": 128},
    "average_drop": {},
}


def main() -> None:
    out, count = sys.argv[1], int(sys.argv[2])
    dataset = boxed_dataset(count, bad=(5,))
    request = EvaluationRequest(
        models=[tiny_model()], methods=["gradcam", "gradcam++"], metrics=METRICS, batch_size=2
    )
    world = join()
    evaluation = evaluate(dataset, request, out, world=world, progress=False)
    if world.rank == 0:
        write_outputs(evaluation, dataset, {"scores": ["logit"]}, out, figures=False)
    world.barrier()
    world.close()


if __name__ == "__main__":
    main()
