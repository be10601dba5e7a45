"""KFP component: magnitude-prune the float Keras model and fine-tune it."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("prune"), install_kfp_package=False)
def prune(model: Input[Model], dataset: Input[Dataset], pruned_model: Output[Model], metrics: Output[Metrics],
          enabled: bool = True, target_sparsity: float = 0.5, epochs: int = 2, trust_model: bool = False):
    """Zero the smallest `target_sparsity` of the prunable weights (TF Model Optimization, polynomial
    schedule) while fine-tuning for `epochs` (0: prune once, no fine-tuning).

    model: keras (or Keras SavedModel) bundle; dataset: .npz with x_train, y_train, x_test, y_test.
    trust_model: allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it).
    Outputs: `pruned_model` (keras bundle: model.keras, model.json with sparsity, metrics.json) and
    `metrics` (accuracy, sparsity, size_bytes, gzip_bytes, source_gzip_bytes, macs, nonzero_macs, ...).
    `enabled=False` copies the model unchanged (metrics skipped, accuracy, size_bytes, sparsity).
    """
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.prune.core import prune as run

    with trusting(trust_model):
        result = run(model.path, dataset.path, pruned_model.path, target_sparsity=target_sparsity,
                     epochs=epochs, enabled=enabled)
    pruned_model.metadata.update({"format": read_bundle(pruned_model.path)[0].format,
                                  "sparsity": result["sparsity"]})
    log_to_kfp(metrics, result)
