"""Knowledge distillation (Hinton et al., 2015): the loss and the logits behind a softmax classifier.

Loss per sample, with teacher logits t, student logits s, label y and temperature T:

    alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

The logits are the inputs of a model's final softmax: the softmax is stripped (the output layer is
rebuilt with a linear activation and the same weights, or the model is cut before a final
Softmax/Activation layer), which is exact, unlike taking the log of clipped probabilities. A model
whose output is linear is taken to output logits already. Shared by distill (training a student)
and prune (recovering a compressed model from its source).
"""

from edgeopt.common.training import output_activation


def distillation_loss(labels, student_logits, teacher_logits, temperature: float, alpha: float):
    """Mean distillation loss of a batch (see the module docstring); a scalar tensor."""
    from edgeopt.common.tfenv import tf

    labels = tf.cast(labels, tf.int32)
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student_logits)
    log_p_teacher = tf.nn.log_softmax(teacher_logits / temperature)
    log_p_student = tf.nn.log_softmax(student_logits / temperature)
    soft = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return tf.reduce_mean(alpha * hard + (1.0 - alpha) * temperature ** 2 * soft)


def packed_distillation_loss(temperature: float, alpha: float):
    """A Keras loss `f(y_true, y_pred)` for `fit`: `y_true` packs the label in column 0 and the
    teacher's logits after it (`pack_targets`), `y_pred` is the student's logits."""
    from edgeopt.common.tfenv import tf

    def loss(y_true, y_pred):
        return distillation_loss(tf.cast(y_true[:, 0], tf.int32), y_pred, y_true[:, 1:], temperature, alpha)

    return loss


def pack_targets(labels, teacher_logits):
    """Rows [label, teacher logits...] for `packed_distillation_loss` (label 0 when `labels` is None:
    only valid with alpha = 0, where the label term has no weight)."""
    import numpy as np

    column = np.zeros(len(teacher_logits)) if labels is None else np.asarray(labels)
    return np.concatenate([column[:, None].astype(np.float32), teacher_logits.astype(np.float32)], axis=1)


def logits_model(model):
    """A model computing the logits behind `model`'s softmax output (`model` itself if its output is linear).

    A final Softmax/Activation layer is cut off (the result shares weights with `model`); a softmax
    fused into the output layer is replaced by a linear one in a copy that has `model`'s weights.
    """
    from edgeopt.common.tfenv import keras

    if output_activation(model) == "linear":
        return model
    head = model.get_layer(model.output_names[0])
    if isinstance(head, (keras.layers.Softmax, keras.layers.Activation)):
        return keras.Model(model.inputs, head.input)

    def linear_head(layer):
        config = layer.get_config()
        if layer is head:
            config["activation"] = "linear"
        return type(layer).from_config(config)

    twin = keras.models.clone_model(model, clone_function=linear_head)
    twin.set_weights(model.get_weights())
    return twin


def copy_weights_by_name(source, target) -> None:
    """Set each layer of `target` to the weights of the layer of `source` with the same name (the
    layers of a `logits_model` twin back into the model it came from)."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())
