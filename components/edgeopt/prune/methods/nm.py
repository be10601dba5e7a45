"""N:M semi-structured sparsity: at most N non-zero weights in every M consecutive input weights.

`--method N:M` (e.g. 2:4, the pattern sparse tensor cores and TFLite's sparse kernels use) prunes
the kernels of Conv2D and Dense layers whose input channels are a multiple of M with tfmot's
`sparsity_m_by_n` (tfmot counts zeros: N:M here is its (M - N, M)), the masks updated from
begin_step every `frequency` steps while fine-tuning; `epochs=0` keeps the N largest of every
group once, without training. The result is verified on the stripped weights: `nm_groups_ok` is
the fraction of groups that hold at most N non-zeros (1.0 when the pattern holds everywhere).
"""

import re

from edgeopt.common.errors import EdgeoptError
from edgeopt.prune import sparse
from edgeopt.prune.job import Compressed, Job
from edgeopt.prune.methods.registry import PruneMethod, register

PATTERN = r"(\d+):(\d+)"
LAYERS = ("Conv2D", "Dense")


def pattern(name: str) -> tuple[int, int]:
    """(N, M) of a method name such as "2:4"; EdgeoptError unless 1 <= N < M."""
    n, m = (int(v) for v in re.fullmatch(PATTERN, name).groups())
    if not 1 <= n < m:
        raise EdgeoptError(f"N:M sparsity needs 1 <= N < M, not {name}",
                           "N weights of every M stay non-zero: use e.g. 2:4 or 1:4")
    return n, m


def _check(name: str, options: dict) -> None:
    pattern(name)


register(PruneMethod(
    "N:M", "at most N non-zero weights in every M consecutive input weights of Conv2D and Dense "
    "kernels, e.g. 2:4", "edgeopt.prune.methods.nm:compress", uses=frozenset({"begin_step", "frequency"}),
    pattern=PATTERN, check=_check))


def compress(job: Job) -> Compressed:
    """Prune `job.model` (a copy) to the N:M pattern of `job.options["method"]`; see the module docstring."""
    from edgeopt.common.tfenv import keras

    o = job.options
    n, m = pattern(o["method"])
    model = keras.models.clone_model(job.model)
    model.set_weights(job.model.get_weights())
    chosen = [layer.name for layer in model.layers if type(layer).__name__ in LAYERS and layer.name not in job.excluded
              and layer.kernel.shape[-2] % m == 0]
    if not chosen:
        raise EdgeoptError(f"no Conv2D or Dense layer has input channels that are a multiple of {m}",
                           f"N:M sparsity groups {m} consecutive input weights; use --method magnitude or structured")
    rounds = []
    if o["epochs"] == 0:
        for name in chosen:
            kernel = model.get_layer(name).kernel
            kernel.assign(sparse.nm_prune(kernel.numpy(), n, m))
    else:
        steps = o["epochs"] * job.recovery.steps_per_epoch(len(job.training.x))
        _, frequency = sparse.timing(steps, o["begin_step"], None, o["frequency"])
        schedule = sparse.constant(0.5, o["begin_step"], frequency)  # the schedule times the updates only

        def arguments(layer):
            return {"pruning_schedule": schedule, "sparsity_m_by_n": (m - n, m)} if layer.name in chosen else None

        rounds.append(job.recover(model, prepare=lambda twin: sparse.wrap_for_pruning(twin, arguments),
                                  finish=sparse.strip, callbacks=[sparse.update_step_callback()],
                                  patience_from=sparse.epochs_until(o["begin_step"] + 1, steps // o["epochs"])))
    layers, ok_total, all_total = {}, 0, 0
    for name in chosen:
        ok, total = sparse.nm_groups(model.get_layer(name).kernel.numpy(), n, m)
        layers[name] = {"groups_ok": ok / total, "sparsity": sparse.weight_sparsity([model.get_layer(name).kernel])}
        ok_total, all_total = ok_total + ok, all_total + total
    skipped = [layer.name for layer in model.layers if type(layer).__name__ in LAYERS and layer.name not in chosen]
    return Compressed(model, chosen, layers, rounds,
                      {"nm_pattern": f"{n}:{m}", "nm_groups_ok": ok_total / all_total, "nm_skipped_layers": skipped})
