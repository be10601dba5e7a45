"""Model files that run code when loaded unsafely: what the safety tests feed every route."""

from pathlib import Path


def lambda_model(marker: Path):
    """A digits-shaped Keras model whose Lambda layer writes `marker` whenever its code runs (loading
    such a file unsafely runs it); the file is removed after the build, which ran the code once."""
    from edgeopt.common.tfenv import keras

    # the path travels as a default argument: Keras stores a Lambda's bytecode with its defaults
    def code(t, path=str(marker)):
        return (__import__("pathlib").Path(path).write_text("ran"), t)[1]

    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Lambda(code), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    marker.unlink(missing_ok=True)
    return model
