"""What a pruning method's compress function receives and returns."""

from dataclasses import dataclass, field
from typing import Any

from edgeopt.common.datasets import Dataset
from edgeopt.common.recovery import Recovery, TrainingSet, recover


@dataclass
class Job:
    """One pruning run: the source model, the data, the checked stage options and how to recover."""

    model: Any                      # the source Keras model; methods edit copies of it
    data: Dataset
    options: dict[str, Any]
    recovery: Recovery
    training: TrainingSet           # x_train, labels (or None), the source's logits when distilling
    from_logits: bool               # the model outputs logits (else softmax probabilities)
    excluded: set[str]              # names of the layers left unpruned (by name or type)
    layer_ratios: dict[str, float]  # per-layer overrides of the method's ratio

    def recover(self, model, **kwargs: Any) -> dict[str, Any]:
        """Fine-tune `model` in place (see `edgeopt.common.recovery.recover`)."""
        return recover(model, self.training, self.recovery, **kwargs)


@dataclass
class Compressed:
    """A method's result: the model, the layers it changed, a per-layer report, the fine-tuning
    rounds and metrics of its own."""

    model: Any
    pruned_layers: list[str]
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
