"""Quality of a model's outputs: accuracy against labels and agreement with a reference model."""

import numpy as np


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of class scores `outputs` (N, C) against integer `labels` (N,)."""
    return float(np.mean(outputs.reshape(len(outputs), -1).argmax(-1) == labels))


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How closely `outputs` follow `reference`: max/mean abs difference, top-1 agreement, SNR in dB
    (None when the outputs are identical) and relative error ||outputs - reference|| / ||reference||
    (L2 over all values; the plain norm of the difference when the reference is all zeros)."""
    a = outputs.reshape(len(outputs), -1).astype(np.float64)
    b = reference.reshape(len(reference), -1).astype(np.float64)
    diff = a - b
    noise = float(np.sum(diff ** 2))
    signal = float(np.sum(b ** 2))
    return {
        "max_abs_diff": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "mean_abs_diff": float(np.mean(np.abs(diff))) if diff.size else 0.0,
        "top1_agreement": float(np.mean(a.argmax(-1) == b.argmax(-1))) if a.shape[1] > 1 else 1.0,
        "snr_db": float(10 * np.log10(signal / noise)) if noise > 0 and signal > 0 else None,
        "relative_error": float(np.sqrt(noise / signal)) if signal > 0 else float(np.sqrt(noise)),
    }


def quality(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    """The quality metrics of a quantized model's `outputs` against its float model's `reference`
    and the test `labels`: accuracy, float_accuracy, confusion_matrix, agreement, snr_db,
    max_abs_diff, relative_error."""
    match = parity(outputs, reference)
    return {
        "accuracy": accuracy(outputs, labels),
        "float_accuracy": accuracy(reference, labels),
        "confusion_matrix": confusion_matrix(outputs, labels),
        "agreement": match["top1_agreement"],
        "snr_db": match["snr_db"],
        "max_abs_diff": match["max_abs_diff"],
        "relative_error": match["relative_error"],
    }


MAX_CONFUSION_CLASSES = 100


def confusion_matrix(outputs: np.ndarray, labels: np.ndarray) -> list[list[int]] | None:
    """Counts [true class][predicted class] of class scores `outputs` (N, C) against `labels`;
    None when C is over MAX_CONFUSION_CLASSES (not a classifier, e.g. an autoencoder)."""
    scores = outputs.reshape(len(outputs), -1)
    classes = scores.shape[1]
    if classes > MAX_CONFUSION_CLASSES or len(labels) == 0 or int(labels.max()) >= classes:
        return None
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), scores.argmax(-1)), 1)
    return matrix.tolist()
