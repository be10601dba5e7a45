"""KFP component: publish the model as a new version in the model registry."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("promote"), install_kfp_package=False)
def promote(model: Input[Model], verdict: Input[Artifact], report: Input[Markdown], registry: str,
            model_name: str, entry: Output[Artifact]):
    """Publish `model` with its verdict and report as the next version of `model_name`.

    registry: a folder path or s3://bucket/prefix (S3 credentials and endpoint from the
    environment). A failed verdict is refused. Output `entry`: a JSON file {uri, version, name,
    files}; uri, version and name also in its metadata.
    """
    import json
    from pathlib import Path

    from edgeopt.promote.core import promote as publish

    result = publish(model.path, verdict.path, registry, model_name, report_path=report.path)
    entry.metadata.update({k: result[k] for k in ("uri", "version", "name")})
    Path(entry.path).parent.mkdir(parents=True, exist_ok=True)
    Path(entry.path).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
