"""The distill stage's declaration: its parameters and the metrics it emits."""

from edgeopt.common.spec import MetricSpec, Param, StageSpec, trust_model_param

SPEC = StageSpec(
    name="distill",
    description="train a width-scaled student to imitate the teacher (knowledge distillation)",
    params=(
        Param("enabled", bool, True, "run the stage; false copies the teacher unchanged", cli=False,
              pipeline_default=False),
        Param("width", float, 0.5, "student width: fraction of the teacher's filters/units",
              minimum=0, maximum=1, exclusive_minimum=True, metavar="F"),
        Param("temperature", float, 4.0, "softmax temperature of the teacher's soft targets (1: no softening)",
              minimum=0, exclusive_minimum=True, metavar="F"),
        Param("alpha", float, 0.1, "weight of the label loss; 1 - alpha weighs the teacher's soft targets",
              minimum=0, maximum=1, metavar="F"),
        Param("epochs", int, 10, "training epochs over x_train", minimum=0, metavar="N"),
        Param("compare_without_teacher", bool, True, "also train the same student, from the same initial weights "
              "for the same epochs, on the labels alone, and report its accuracy beside the distilled one"),
        Param("batch_size", int, 64, "training batch size", minimum=1, metavar="N", pipeline=None),
        Param("seed", int, 0, "seed of Python, NumPy and TensorFlow for repeatable training", pipeline=None,
              metavar="N"),
        trust_model_param(),
    ),
    metrics=(
        MetricSpec("accuracy", "fraction", "higher", "student accuracy on x_test (Keras)"),
        MetricSpec("teacher_accuracy", "fraction", "higher", "teacher accuracy on x_test"),
        MetricSpec("without_teacher_accuracy", "fraction", "higher", "accuracy of the same student trained on the "
                   "labels alone with the same budget"),
        MetricSpec("teacher_gain", "fraction", "higher", "accuracy - without_teacher_accuracy: what the teacher added"),
        MetricSpec("student_params", "count", "lower", "student parameters"),
        MetricSpec("teacher_params", "count", None, "teacher parameters"),
        MetricSpec("size_bytes", "bytes", "lower", "student .keras file size"),
        MetricSpec("loss", "nats", "lower", "final distillation loss"),
    ),
)
