"""scikit-learn's bundled 8x8 digits as an edgeopt dataset, and a small CNN trained on it."""

from pathlib import Path

import numpy as np

from edgeopt.common.datasets import Dataset, save_dataset


def digits_dataset(seed: int = 0) -> Dataset:
    """The 1,797 digits images as (N, 8, 8, 1) floats in [0, 1], split 75/25, with labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def write_digits_dataset(path: Path | str, seed: int = 0) -> Path:
    """Write the digits dataset as an edgeopt `.npz` to `path`."""
    return save_dataset(path, digits_dataset(seed))


def build_digits_cnn(width: float = 1.0):
    """A small Keras CNN for 8x8x1 digits; `width` scales its filters and units."""
    from edgeopt.common.tfenv import keras

    def w(n: int) -> int:
        return max(1, int(round(n * width)))

    return keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(w(16), 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(w(32), 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Conv2D(w(32), 3, padding="same", activation="relu", name="conv3"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(w(64), activation="relu", name="fc1"),
        keras.layers.Dense(10, activation="softmax", name="logits"),
    ], name="digits_cnn")


def train_digits_cnn(data: Dataset, epochs: int = 15, seed: int = 0):
    """Train the digits CNN on `data`; returns the Keras model (about 97-99 % test accuracy)."""
    from edgeopt.common.tfenv import keras

    keras.utils.set_random_seed(seed)
    model = build_digits_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=0)
    return model
