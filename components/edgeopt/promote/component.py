"""KFP components: publish the model as a new version in the model registry, and read the metrics of
the latest promoted version for the gate (`baseline: registry`)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Model, Output

from edgeopt.containers.images import image_for


@dsl.component(base_image=image_for("promote"), install_kfp_package=False)
def promote(model: Input[Model], verdict: Input[Artifact], report: Input[Markdown], registry: str,
            model_name: str, entry: Output[Artifact], allow_duplicate: bool = False,
            c_array: Input[Model] = None):
    """Publish `model` with its verdict and report as the next version of `model_name`.

    registry: a folder path, s3://bucket/prefix or mlflow+http://HOST:PORT (credentials and the
    S3 endpoint from the environment). A failed verdict is refused. When the latest entry holds the same model and
    verdict it is reused (no new version) unless `allow_duplicate`. Output `entry`: a JSON file
    {uri, version, name, files, reused[, duplicate_of]}; uri, version, name and reused also in its
    metadata. The output file is written once before publishing, so that it cannot fail after.
    c_array: convert's C array bundle (model_data.cc/.h), published in the entry's c_array/ beside
    the .tflite: the microcontroller deliverable.
    """
    import json
    from pathlib import Path

    from edgeopt.promote.core import promote as publish

    out = Path(entry.path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = out.with_name(f".{out.name}.pending")
    pending.write_text("{}\n")
    try:
        extra = {}
        if c_array is not None and (Path(c_array.path) / "model.json").is_file():  # not a skipped format
            extra["c_array"] = c_array.path
        result = publish(model.path, verdict.path, registry, model_name, report_path=report.path,
                         allow_duplicate=allow_duplicate, deliverables=extra)
        pending.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        pending.replace(out)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    entry.metadata.update({k: result[k] for k in ("uri", "version", "name", "reused")})


@dsl.component(base_image=image_for("promote"), install_kfp_package=False)
def registry_baseline(registry: str, model_name: str, baseline: Output[Metrics]):
    """The metrics of the latest promoted version of `model_name` in `registry`, for validate_targets'
    `registry_baseline` input when the targets say `baseline: registry`.

    Output `baseline`: the JSON document {source, registry, name, version, uri, created, quality,
    targets, note}; before the first promotion `version` is None and `note` says so. Its version
    and name also go into the artifact's metadata.
    """
    from edgeopt.common.metrics import write_metrics
    from edgeopt.promote.baseline import latest_promoted

    doc = latest_promoted(registry, model_name)
    write_metrics(baseline.path, doc)
    baseline.metadata.update({"name": doc["name"], "version": doc["version"] or ""})
