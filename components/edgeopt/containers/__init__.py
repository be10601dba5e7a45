"""Container images: their names and tags, `edgeopt images`, the engine, the kfp.local DockerRunner."""
