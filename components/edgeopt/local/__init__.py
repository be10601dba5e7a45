"""Running the pipeline on this machine: the demo and run commands, the preflight, kfp.local, progress, summary."""
