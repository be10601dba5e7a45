"""The ingest stage's declaration: its parameters and the metrics it emits."""

from edgeopt.common.spec import MetricSpec, StageSpec, trust_model_param

SPEC = StageSpec(
    name="ingest",
    description="check the model, dataset and targets file and measure the baseline",
    params=(trust_model_param(),),
    metrics=(
        MetricSpec("accuracy", "fraction", "higher", "baseline accuracy on x_test (Keras)"),
        MetricSpec("size_bytes", "bytes", "lower", "baseline model file size"),
        MetricSpec("params", "count", "lower", "baseline parameters"),
    ),
)
