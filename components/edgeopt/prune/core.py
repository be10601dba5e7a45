"""Prune a Keras classifier with a registered method, recover it, and report before and after.

`prune` checks the options against the declaration and the chosen method (`check_options`), then
the model and the data, before any work. The method (`edgeopt.prune.methods`) compresses a copy of
the model and fine-tunes it (`edgeopt.common.recovery`: on the labels, or distilled from the source
model's soft targets). The stage measures the source and the result alike: accuracy (agreement
with the source without labels), parameters, MACs, file bytes and gzip bytes. It always reports
the drop; with `max_drop` it fails (EdgeoptError, nothing written) when the drop is larger.
"""

import difflib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, write_bundle
from edgeopt.common.datasets import Dataset
from edgeopt.common.distillation import logits_model
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import load_keras, save_keras
from edgeopt.common.metrics import write_metrics
from edgeopt.common.recovery import Recovery, TrainingSet
from edgeopt.common.runtimes import predict_keras
from edgeopt.common.training import classifier_from_logits, load_keras_bundle, load_labelled, passthrough, shape_list
from edgeopt.prune import methods
from edgeopt.prune.footprint import footprint
from edgeopt.prune.job import Job
from edgeopt.prune.sparse import weight_sparsity
from edgeopt.prune.spec import SPEC


def check_options(**options: Any) -> dict[str, Any]:
    """The stage options checked against the declaration and the chosen method, before any work;
    EdgeoptError naming the conflict (e.g. --rank-ratio with method structured)."""
    o = SPEC.check(options)
    methods.check(methods.lookup(o["method"]), o, SPEC)
    return o


def recovery_of(o: dict[str, Any]) -> Recovery:
    """The fine-tuning the checked options `o` ask for."""
    return Recovery(epochs=o["epochs"], batch_size=o["batch_size"], learning_rate=o["learning_rate"],
                    early_stopping=o["early_stopping"], validation_split=o["validation_split"],
                    temperature=o["distill_temperature"], alpha=o["distill_alpha"], seed=o["seed"])


def prune(model_dir: Path | str, data_path: Path | str, out_dir: Path | str, **options: Any) -> dict[str, Any]:
    """Prune the Keras model of bundle `model_dir` with `method`, fine-tuning it on the dataset
    `data_path`; write the pruned bundle and `metrics.json` to `out_dir`; return the metrics.

    `options` are the parameters of `edgeopt.prune.spec.SPEC` (checked there; defaults from it).
    `enabled=False` copies the bundle unchanged (metrics `skipped`, `accuracy`, `size_bytes`, `sparsity`).
    """
    o = check_options(**options)
    if not o["enabled"]:
        return passthrough(model_dir, data_path, out_dir)
    method = methods.lookup(o["method"])
    recovery = recovery_of(o)

    from edgeopt.common.tfenv import keras

    info, model = load_keras_bundle(model_dir, "prune")
    data = load_labelled(data_path, model, "prune", required=False)
    if recovery.needs_labels and data.y_train is None:
        raise EdgeoptError(f"fine-tuning on labels needs y_train, which dataset {data_path} does not have",
                           "fine-tune from the source model's soft targets instead (--distill-temperature 4), "
                           "or pass the dataset written by ingest")
    from_logits = classifier_from_logits(model, "prune")
    excluded = excluded_layers(model, o["exclude"])
    keras.utils.set_random_seed(o["seed"])
    source_out = predict_keras(model, data.x_test)
    with tempfile.TemporaryDirectory() as tmp:  # the source as the same kind of file as the output
        source = footprint(model, Path(tmp) / save_keras(model, Path(tmp)), data.x_test.shape)
    teacher = predict_keras(logits_model(model), data.x_train) if recovery.temperature is not None else None
    job = Job(model, data, o, recovery, TrainingSet(data.x_train, data.y_train, teacher), from_logits, excluded,
              methods.layer_ratios(o["layer_ratios"]))
    result = method.compressor()(job)

    with atomic_dir(out_dir) as scratch:
        file = save_keras(result.model, scratch)
        saved = load_keras(scratch / file)
        out = predict_keras(saved, data.x_test)
        after = footprint(saved, scratch / file, data.x_test.shape)
        sparsity = weight_sparsity([w for name in result.pruned_layers for w in _kernels(saved.get_layer(name))])
        target_sparsity = o["target_sparsity"] if method.name == "magnitude" else None
        written = write_bundle(scratch, ModelInfo(
            format="keras", file=file, input_shape=shape_list(saved.input_shape),
            output_shape=shape_list(saved.output_shape), sparsity=sparsity, stage="prune", parent=parent_ref(info),
            details={"params": after["params"], "method": o["method"], "target_sparsity": target_sparsity,
                     "pruned_layers": sorted(result.pruned_layers)}))
        metrics = {
            "skipped": False,
            "method": o["method"],
            **_quality(out, source_out, data),
            "max_drop": o["max_drop"],
            "sparsity": sparsity,
            "target_sparsity": target_sparsity,
            "params": after["params"],
            "source_params": source["params"],
            "size_bytes": written.size_bytes,
            "source_size_bytes": source["size_bytes"],
            "gzip_bytes": after["gzip_bytes"],
            "source_gzip_bytes": source["gzip_bytes"],
            "macs": after["macs"],
            "nonzero_macs": after["nonzero_macs"],
            "source_macs": source["macs"],
            "params_ratio": after["params"] / source["params"],
            "macs_ratio": after["macs"] / source["macs"] if source["macs"] else None,
            "pruned_layers": len(result.pruned_layers),
            "layers": result.layers,
            "epochs": o["epochs"],
            "epochs_run": sum(r["epochs_run"] for r in result.rounds),
            "rounds": result.rounds,
            "distill_temperature": o["distill_temperature"],
            **result.extra,
        }
        _gate(metrics)  # raising here leaves out_dir as it was: nothing is written
        write_metrics(scratch, metrics)
    return metrics


def excluded_layers(model, entries: list[str]) -> set[str]:
    """Names of the layers of `model` that `entries` (layer names or class names) exclude; EdgeoptError
    for an entry that matches no layer."""
    names = {layer.name for layer in model.layers}
    kinds: dict[str, set[str]] = {}
    for layer in model.layers:
        kinds.setdefault(type(layer).__name__, set()).add(layer.name)
    excluded: set[str] = set()
    for entry in entries:
        if entry in names:
            excluded.add(entry)
        elif entry in kinds:
            excluded |= kinds[entry]
        else:
            close = difflib.get_close_matches(entry, sorted(names | set(kinds)), n=1)
            raise EdgeoptError(f"--exclude {entry} matches no layer name or layer type of the model",
                               f"did you mean {close[0]}?" if close else
                               f"the layer types are {', '.join(sorted(kinds))}")
    return excluded


def _quality(out: np.ndarray, source_out: np.ndarray, data: Dataset) -> dict[str, Any]:
    """Accuracy and agreement of the result against the source's outputs on x_test, and the drop."""
    agreement = float(np.mean(out.argmax(-1) == source_out.argmax(-1)))
    if data.y_test is None:
        acc, source_acc, labels = agreement, 1.0, "none"
    else:
        acc, source_acc, labels = accuracy(out, data.y_test), accuracy(source_out, data.y_test), data.labels
    return {"accuracy": acc, "source_accuracy": source_acc, "accuracy_drop": source_acc - acc,
            "agreement": agreement, "labels": labels}


def _gate(metrics: dict[str, Any]) -> None:
    """EdgeoptError when the drop exceeds `max_drop` (the caller then writes nothing)."""
    limit, drop = metrics["max_drop"], metrics["accuracy_drop"]
    if limit is not None and drop > limit + 1e-12:
        what = "accuracy" if metrics["labels"] != "none" else "agreement with the source"
        raise EdgeoptError(
            f"pruning ({metrics['method']}) lowered {what} by {drop * 100:.2f} points "
            f"({metrics['source_accuracy']:.2%} to {metrics['accuracy']:.2%}), more than --max-drop {limit}",
            "prune less (--ratio, --sparsity), fine-tune longer (--epochs) or on more samples"
            + ("" if metrics["distill_temperature"] is not None else
               ", or distill from the source (--distill-temperature 4)") + "; nothing was written")


def _kernels(layer) -> list:
    """The multiplying weights of a layer (its kernels), for the sparsity figure."""
    return [w for w in layer.weights if "kernel" in w.name]
