"""The built-in example: a small CNN trained offline on scikit-learn's bundled digits."""
