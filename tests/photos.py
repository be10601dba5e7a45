"""Unlabelled images for the MLPerf Tiny image classifier, cut from scikit-learn's sample photographs."""

import numpy as np


def photo_crops(n: int, seed: int) -> np.ndarray:
    """`n` random square crops (15-60 % of the short side) of scikit-learn's two sample photographs,
    resized to 32x32, in ResNet-8's 0..255 input range."""
    from sklearn.datasets import load_sample_images

    from edgeopt.common.tfenv import tf

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(n):
        img = photos[rng.integers(len(photos))]
        size = int(rng.uniform(0.15, 0.6) * min(img.shape[:2]))
        top, left = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        crops.append(tf.image.resize(img[top:top + size, left:left + size].astype(np.float32), (32, 32)).numpy())
    return np.stack(crops).astype(np.float32)
