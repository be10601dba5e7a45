"""KFP component: distill the teacher model into a smaller student."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("distill"), install_kfp_package=False)
def distill(teacher: Input[Model], dataset: Input[Dataset], student_model: Output[Model], metrics: Output[Metrics],
            enabled: bool = True, width: float = 0.5, temperature: float = 4.0, alpha: float = 0.1,
            epochs: int = 10, trust_model: bool = False):
    """Train a student, the teacher's architecture at `width` times its filters/units with fresh weights,
    on alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher || student at temperature T), for `epochs`.

    teacher: keras (or Keras SavedModel) bundle of a softmax (or logits) classifier;
    dataset: .npz with x_train, y_train, x_test, y_test.
    trust_model: allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it).
    Outputs: `student_model` (keras bundle: model.keras, model.json, metrics.json) and `metrics`
    (accuracy, teacher_accuracy, student_params, teacher_params, size_bytes, teacher_size_bytes, ...).
    `enabled=False` copies the teacher unchanged (metrics skipped, accuracy, size_bytes).
    """
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.distill.core import distill as run

    with trusting(trust_model):
        result = run(teacher.path, dataset.path, student_model.path, width=width, temperature=temperature,
                     alpha=alpha, epochs=epochs, enabled=enabled)
    info, _ = read_bundle(student_model.path)
    student_model.metadata.update({"format": info.format, "params": info.details.get("params")})
    log_to_kfp(metrics, result)
