"""Unstructured magnitude pruning: zero each prunable layer's smallest weights (tfmot prune_low_magnitude).

Every layer tfmot can prune (Dense, convolutions, ...) and the user did not exclude is pruned to
`target_sparsity` (or its `layer_ratios` entry) while fine-tuning, under a `polynomial` schedule
(from the previous round's sparsity up to the round's target, between begin_step and end_step) or
a `constant` one (the round's target from begin_step). With `rounds` > 1 the target is reached in
equal steps, each round pruning then fine-tuning for `epochs`. With `epochs=0` the weights are cut
once by magnitude, without training. Shapes stay the same: the file does not shrink, it compresses.
"""

from edgeopt.common.errors import EdgeoptError
from edgeopt.prune import sparse
from edgeopt.prune.job import Compressed, Job
from edgeopt.prune.methods.registry import PruneMethod, register

register(PruneMethod(
    "magnitude", "zero the smallest weights of every prunable layer (the shapes stay, the file compresses)",
    "edgeopt.prune.methods.magnitude:compress",
    uses=frozenset({"target_sparsity", "layer_ratios", "schedule", "begin_step", "end_step", "frequency", "rounds"})))


def compress(job: Job) -> Compressed:
    """Prune `job.model` (a copy) by magnitude; see the module docstring."""
    from edgeopt.common.tfenv import keras

    o = job.options
    model = keras.models.clone_model(job.model)
    model.set_weights(job.model.get_weights())
    prunable = [n for n in sparse.tfmot_prunable(model) if n not in job.excluded]
    unknown = sorted(set(job.layer_ratios) - set(prunable))
    if unknown:
        raise EdgeoptError(f"--layer-ratios names {', '.join(unknown)}, which magnitude pruning does not prune",
                           f"name layers among {', '.join(prunable)}")
    if not prunable:
        raise EdgeoptError("the model has no layer that TF Model Optimization can prune",
                           "pruning needs Dense or convolution layers that are not excluded; "
                           "disable the prune stage for this model")
    targets = {name: job.layer_ratios.get(name, o["target_sparsity"]) for name in prunable}
    rounds = []
    if o["epochs"] == 0:
        for name in prunable:
            layer = model.get_layer(name)
            for weight in _prunable_weights(layer):
                weight.assign(sparse.magnitude_prune(weight.numpy(), targets[name]))
    else:
        steps = o["epochs"] * job.recovery.steps_per_epoch(len(job.training.x))
        end, frequency = sparse.timing(steps, o["begin_step"], o["end_step"], o["frequency"])
        for k in range(1, o["rounds"] + 1):
            def arguments(layer, k=k):
                if layer.name not in targets:
                    return None
                before, after = (targets[layer.name] * i / o["rounds"] for i in (k - 1, k))
                if o["schedule"] == "constant":
                    return {"pruning_schedule": sparse.constant(after, o["begin_step"], frequency)}
                return {"pruning_schedule": sparse.polynomial(before, after, o["begin_step"], end, frequency)}

            full = o["begin_step"] + 1 if o["schedule"] == "constant" else end
            rounds.append(job.recover(model, prepare=lambda twin: sparse.wrap_for_pruning(twin, arguments),
                                      finish=sparse.strip, callbacks=[sparse.update_step_callback()],
                                      patience_from=sparse.epochs_until(full, steps // o["epochs"])))
    layers = {name: {"sparsity": sparse.weight_sparsity(_prunable_weights(model.get_layer(name))),
                     "target": targets[name]} for name in prunable}
    return Compressed(model, prunable, layers, rounds)


def _prunable_weights(layer) -> list:
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.prune_low_magnitude(layer).layer.get_prunable_weights()
