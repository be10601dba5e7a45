"""KFP component: distill the teacher model into a smaller student."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.distill.spec import SPEC
from edgeopt.containers.images import image_for


@dsl.component(base_image=image_for("distill"), install_kfp_package=False)
@SPEC.describe(
    "Train a student, the teacher's architecture at `width` times its filters/units with fresh weights, on "
    "alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher || student at temperature T), for `epochs`.",
    artifacts={"teacher": "keras (or Keras SavedModel) bundle of a softmax (or logits) classifier.",
               "dataset": ".npz with x_train, y_train, x_test, y_test.",
               "teacher_outputs": "optional: the teacher's logits on x_train and accuracy (teacher_outputs' output), "
                                  "which saves running the teacher again.",
               "student_model": "output: keras bundle (model.keras, model.json, metrics.json).",
               "metrics": "output: accuracy, without_teacher_accuracy, teacher_gain, teacher_accuracy, "
                          "student_params, teacher_params, size_bytes, ..."})
def distill(teacher: Input[Model], dataset: Input[Dataset], student_model: Output[Model], metrics: Output[Metrics],
            enabled: bool = True, width: float = 0.5, temperature: float = 4.0, alpha: float = 0.1,
            epochs: int = 10, compare_without_teacher: bool = True, batch_size: int = 64, seed: int = 0,
            trust_model: bool = False, teacher_outputs: Input[Dataset] = None):
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.distill.core import distill as run
    from edgeopt.distill.spec import SPEC

    with trusting(trust_model):
        result = run(teacher.path, dataset.path, student_model.path, enabled=enabled, width=width,
                     teacher_outputs=teacher_outputs.path if teacher_outputs is not None else None,
                     temperature=temperature, alpha=alpha, epochs=epochs,
                     compare_without_teacher=compare_without_teacher, batch_size=batch_size, seed=seed)
    info, _ = read_bundle(student_model.path)
    student_model.metadata.update({"format": info.format, "params": info.details.get("params")})
    log_to_kfp(metrics, result, keys=[m.key for m in SPEC.metrics])


@dsl.component(base_image=image_for("distill"), install_kfp_package=False)
def teacher_outputs(teacher: Input[Model], dataset: Input[Dataset], outputs: Output[Dataset],
                    trust_model: bool = False):
    """Run the teacher once for every student of a sweep.

    teacher: keras (or Keras SavedModel) bundle of a classifier. dataset: .npz with x_train, x_test,
    y_test. Output `outputs`: .npz with the teacher's logits on x_train (train_logits) and its
    accuracy on x_test (teacher_accuracy), for distill's `teacher_outputs` input.
    """
    from edgeopt.common.modelfile import trusting
    from edgeopt.distill.core import write_teacher_outputs

    with trusting(trust_model):
        result = write_teacher_outputs(teacher.path, dataset.path, outputs.path)
    outputs.metadata.update(result)
