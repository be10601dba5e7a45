"""KFP component: ingest the user's model, dataset and targets file."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("ingest"), install_kfp_package=False)
def ingest(model_uri: str, data_uri: str, targets: str, model: Output[Model], dataset: Output[Dataset],
           metrics: Output[Metrics], trust_model: bool = False) -> NamedTuple("Outputs", [("target", str), ("runtime", str)]):
    """Check and import the baseline model and dataset, and check the targets file first.

    model_uri, data_uri: local paths or s3:// URIs of a Keras/SavedModel model and an .npz dataset.
    targets: the targets YAML text; its device target and runtime are returned for the simulator.
    trust_model: allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it).
    Outputs: `model` (baseline bundle), `dataset` (checked .npz with labels), `metrics` (baseline accuracy, size).
    """
    import tempfile
    from collections import namedtuple

    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.common.storage import fetch
    from edgeopt.ingest.core import ingest as run
    from edgeopt.common.targets import load_targets

    spec = load_targets(targets)
    with tempfile.TemporaryDirectory() as tmp, trusting(trust_model):
        result = run(fetch(model_uri, tmp), fetch(data_uri, tmp), model.path, dataset.path)
    model.metadata.update({"format": "keras", "stage": "ingest"})
    dataset.metadata.update({"labels": result["labels"]})
    log_to_kfp(metrics, result)
    return namedtuple("Outputs", ["target", "runtime"])(spec.target, spec.runtime)
