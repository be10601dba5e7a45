"""KFP component: ingest the user's model, dataset and targets file."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Model, Output

from edgeopt.containers.images import image_for
from edgeopt.ingest.spec import SPEC


@dsl.component(base_image=image_for("ingest"), install_kfp_package=False)
@SPEC.describe(
    "Check the targets file first, then check and import the baseline model and dataset.",
    artifacts={"model_uri": "local path or s3:// URI of the Keras (.h5/.keras) model or SavedModel folder.",
               "data_uri": "local path or s3:// URI of the .npz dataset (x_train, x_test, optional labels).",
               "targets": "the targets YAML text; its device target and runtime are returned for the simulator.",
               "model": "output: the baseline bundle.",
               "dataset": "output: the checked .npz, with labels (the baseline's predictions when none were given).",
               "metrics": "output: baseline accuracy, size_bytes, params."})
def ingest(model_uri: str, data_uri: str, targets: str, model: Output[Model], dataset: Output[Dataset],
           metrics: Output[Metrics], trust_model: bool = False) -> NamedTuple("Outputs", [("target", str),
                                                                                       ("runtime", str)]):
    import tempfile
    from collections import namedtuple

    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.common.storage import fetch
    from edgeopt.common.targets import load_targets
    from edgeopt.ingest.core import ingest as run
    from edgeopt.ingest.spec import SPEC

    spec = load_targets(targets)
    with tempfile.TemporaryDirectory() as tmp, trusting(trust_model):
        result = run(fetch(model_uri, tmp), fetch(data_uri, tmp), model.path, dataset.path)
    model.metadata.update({"format": "keras", "stage": "ingest"})
    dataset.metadata.update({"labels": result["labels"]})
    log_to_kfp(metrics, result, keys=[m.key for m in SPEC.metrics])
    return namedtuple("Outputs", ["target", "runtime"])(spec.target, spec.runtime)
