"""A Kubeflow Pipelines cluster: `edgeopt compile` and `edgeopt submit`."""
