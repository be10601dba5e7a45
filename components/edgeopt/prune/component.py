"""KFP component: prune the float Keras model with a registered method and fine-tune it."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.containers.images import image_for
from edgeopt.prune.spec import SPEC


@dsl.component(base_image=image_for("prune"), install_kfp_package=False)
@SPEC.describe(
    "Prune the model with `method` (magnitude, structured, N:M such as 2:4, or lowrank), fine-tune it for "
    "`epochs` (on the labels, or distilled from the source with `distill_temperature`), and report accuracy, "
    "parameters, MACs and bytes before and after; fail when the drop exceeds `max_drop`.",
    artifacts={"model": "keras (or Keras SavedModel) bundle.",
               "dataset": ".npz with x_train, x_test and, unless distilling, y_train, y_test.",
               "pruned_model": "output: keras bundle (model.keras, model.json with sparsity, metrics.json).",
               "metrics": "output: accuracy, accuracy_drop, params, macs, size_bytes, gzip_bytes, sparsity, ..."})
def prune(model: Input[Model], dataset: Input[Dataset], pruned_model: Output[Model], metrics: Output[Metrics],
          enabled: bool = True, method: str = "magnitude", target_sparsity: float = 0.5, ratio: float = 0.5,
          layer_ratios: List[str] = [], exclude: List[str] = [], min_channels: int = 1, importance: str = "l1",
          schedule: str = "polynomial", begin_step: int = 0, end_step: int = 0, frequency: int = 0, rounds: int = 1,
          rank_ratio: float = 0.0, energy: float = 0.0, epochs: int = 2, learning_rate: float = 1e-3,
          early_stopping: int = 0, validation_split: float = 0.1, distill_temperature: float = 0.0,
          distill_alpha: float = 0.0, max_drop: float = -1.0, batch_size: int = 64, seed: int = 0,
          trust_model: bool = False):
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.prune.core import prune as run
    from edgeopt.prune.spec import SPEC

    with trusting(trust_model):
        result = run(model.path, dataset.path, pruned_model.path, enabled=enabled, method=method,
                     target_sparsity=target_sparsity, ratio=ratio, layer_ratios=list(layer_ratios),
                     exclude=list(exclude), min_channels=min_channels, importance=importance, schedule=schedule,
                     begin_step=begin_step, end_step=end_step, frequency=frequency, rounds=rounds,
                     rank_ratio=rank_ratio, energy=energy, epochs=epochs, learning_rate=learning_rate,
                     early_stopping=early_stopping, validation_split=validation_split,
                     distill_temperature=distill_temperature, distill_alpha=distill_alpha, max_drop=max_drop,
                     batch_size=batch_size, seed=seed)
    pruned_model.metadata.update({"format": read_bundle(pruned_model.path)[0].format,
                                  "sparsity": result["sparsity"]})
    log_to_kfp(metrics, result, keys=[m.key for m in SPEC.metrics])
