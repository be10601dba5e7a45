"""Quality of a model's outputs: accuracy against labels, and how closely they follow a reference
model's (agreement, SNR, MSE, cosine similarity: the measures for a model without class outputs)."""

import numpy as np


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of class scores `outputs` (N, C) against integer `labels` (N,)."""
    return float(np.mean(outputs.reshape(len(outputs), -1).argmax(-1) == labels))


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How closely `outputs` follow `reference`: max/mean abs difference, top-1 agreement, SNR in dB
    (None when the outputs are identical), relative error ||outputs - reference|| / ||reference||
    (L2 over all values; the plain norm of the difference when the reference is all zeros), MSE
    (mean over all values) and cosine similarity (mean over samples; 1 for two all-zero samples,
    0 when only one is all zeros)."""
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
        "mse": float(np.mean(diff ** 2)) if diff.size else 0.0,
        "cosine": _cosine(a, b),
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples (rows) of the cosine similarity of `a` and `b`."""
    if not a.size:
        return 1.0
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    cos = np.divide(dots, na * nb, out=np.zeros_like(dots), where=na * nb > 0)
    cos[(na == 0) & (nb == 0)] = 1.0
    return float(cos.mean())


def quality(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    """The quality metrics of a quantized model's `outputs` against its float model's `reference`
    and the test `labels`: accuracy, float_accuracy, confusion_matrix, agreement, snr_db,
    max_abs_diff, relative_error, mse and cosine (the last four also judge a model without class
    outputs, whose accuracy is only argmax agreement)."""
    match = parity(outputs, reference)
    return {
        "accuracy": accuracy(outputs, labels),
        "float_accuracy": accuracy(reference, labels),
        "confusion_matrix": confusion_matrix(outputs, labels),
        "agreement": match["top1_agreement"],
        "snr_db": match["snr_db"],
        "max_abs_diff": match["max_abs_diff"],
        "relative_error": match["relative_error"],
        "mse": match["mse"],
        "cosine": match["cosine"],
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
