"""The prune stage's declaration: its parameters and the metrics it emits. The methods themselves are
registered in `edgeopt.prune.methods`, each with the options it uses."""

from edgeopt.common.spec import MetricSpec, Param, StageSpec, trust_model_param
from edgeopt.prune.methods import METHODS

SPEC = StageSpec(
    name="prune",
    description="prune a Keras model (weights, channels, N:M groups or low rank) and fine-tune it",
    params=(
        Param("enabled", bool, True, "run the stage; false copies the model unchanged", cli=False),
        Param("method", str, "magnitude", "pruning method: " + "; ".join(
            f"{m.name}: {m.description}" for m in METHODS.values()), metavar="METHOD", pipeline="prune_method"),
        Param("target_sparsity", float, 0.5, "magnitude: fraction of the prunable weights to zero", minimum=0,
              maximum=1, exclusive_maximum=True, flag="--sparsity", metavar="F", pipeline="target_sparsity"),
        Param("ratio", float, 0.5, "structured: fraction of each layer's filters or units to remove", minimum=0,
              maximum=1, exclusive_maximum=True, metavar="F"),
        Param("layer_ratios", list, [], "magnitude, structured: per-layer sparsity or ratio as NAME=F, "
              "overriding --sparsity or --ratio", metavar="NAME=F[,NAME=F...]"),
        Param("exclude", list, [], "layers left unpruned, by name or by type (e.g. Dense)", metavar="NAME[,NAME...]"),
        Param("min_channels", int, 1, "structured: fewest filters or units a layer keeps", minimum=1, metavar="N"),
        Param("importance", str, "l1", "structured: how channels are ranked: l1 or l2 norm of their filters, or "
              "measured on x_train: taylor (first-order estimate of the loss change) or activation (mean magnitude)",
              choices=("l1", "l2", "taylor", "activation")),
        Param("schedule", str, "polynomial", "magnitude: sparsity rising from 0 to the target (polynomial) or the "
              "target from begin_step on (constant)", choices=("polynomial", "constant")),
        Param("begin_step", int, 0, "magnitude, N:M: fine-tuning step of the first mask update in each round",
              minimum=0, metavar="N"),
        Param("end_step", int, 0, "magnitude: step of the last mask update in each round; 0 (not set): nine "
              "tenths of the round's steps", minimum=1, unset=0, metavar="N"),
        Param("frequency", int, 0, "magnitude, N:M: steps between mask updates; 0 (not set): a tenth of the "
              "pruning steps", minimum=1, unset=0, metavar="N"),
        Param("rounds", int, 1, "magnitude, structured: prune then fine-tune this many times, reaching the target "
              "in equal steps", minimum=1, metavar="N"),
        Param("rank_ratio", float, 0.0, "lowrank: rank kept as a fraction of each layer's full rank; 0: not set",
              minimum=0, maximum=1, exclusive_minimum=True, unset=0.0, metavar="F"),
        Param("energy", float, 0.0, "lowrank: keep the smallest rank holding this fraction of the squared "
              "singular values; 0: not set", minimum=0, maximum=1, exclusive_minimum=True, unset=0.0, metavar="F"),
        Param("epochs", int, 2, "fine-tuning epochs in each round; 0 prunes once without fine-tuning",
              minimum=0, metavar="N"),
        Param("learning_rate", float, 1e-3, "Adam learning rate of the fine-tuning", minimum=0,
              exclusive_minimum=True, metavar="F"),
        Param("early_stopping", int, 0, "stop fine-tuning after this many epochs without improvement on a held-out "
              "share of x_train and keep the best epoch (0: off)", minimum=0, metavar="N"),
        Param("validation_split", float, 0.1, "share of x_train held out for early stopping", minimum=0, maximum=1,
              exclusive_minimum=True, exclusive_maximum=True, metavar="F", pipeline=None),
        Param("distill_temperature", float, 0.0, "fine-tune on the source model's soft targets at this temperature "
              "(knowledge distillation, no labels needed); 0 (not set): on the labels", minimum=0,
              exclusive_minimum=True, unset=0.0, metavar="T"),
        Param("distill_alpha", float, 0.0, "when distilling, the weight of the label loss (1 - alpha weighs the "
              "soft targets)", minimum=0, maximum=1, metavar="F"),
        Param("max_drop", float, -1.0, "fail, writing nothing, when accuracy (agreement with the source without "
              "labels) falls by more than this fraction; -1 (not set): no limit", minimum=0, maximum=1, unset=-1.0,
              metavar="D"),
        Param("batch_size", int, 64, "fine-tuning batch size", minimum=1, metavar="N", pipeline=None),
        Param("seed", int, 0, "seed of Python, NumPy and TensorFlow for repeatable fine-tuning", pipeline=None,
              metavar="N"),
        trust_model_param(),
    ),
    metrics=(
        MetricSpec("accuracy", "fraction", "higher", "pruned model's accuracy on x_test (Keras); agreement with the "
                   "source without labels"),
        MetricSpec("source_accuracy", "fraction", "higher", "the unpruned model's accuracy"),
        MetricSpec("accuracy_drop", "fraction", "lower", "source_accuracy - accuracy"),
        MetricSpec("agreement", "fraction", "higher", "top-1 agreement with the unpruned model on x_test"),
        MetricSpec("sparsity", "fraction", "higher", "achieved fraction of zero weights in the pruned layers"),
        MetricSpec("params", "count", "lower", "parameters of the pruned model"),
        MetricSpec("source_params", "count", None, "parameters of the unpruned model"),
        MetricSpec("macs", "count", "lower", "multiply-accumulates per inference"),
        MetricSpec("source_macs", "count", None, "multiply-accumulates of the unpruned model"),
        MetricSpec("nonzero_macs", "count", "lower", "multiply-accumulates with a non-zero weight"),
        MetricSpec("size_bytes", "bytes", "lower", "pruned .keras file size"),
        MetricSpec("source_size_bytes", "bytes", None, "the unpruned model as a .keras file"),
        MetricSpec("gzip_bytes", "bytes", "lower", "gzip-compressed size (what zeros save in storage)"),
        MetricSpec("source_gzip_bytes", "bytes", None, "the unpruned .keras file, gzip-compressed"),
        MetricSpec("nm_groups_ok", "fraction", "higher", "N:M: share of weight groups that satisfy the pattern"),
    ),
)
