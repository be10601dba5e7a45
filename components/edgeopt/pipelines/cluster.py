"""How each task runs on a cluster: image, caching, resources, retries, secrets, security context.

Applied to every task a pipeline builds, from the stage table and the compile options, so that the
compiled YAML is complete as KFP writes it: nothing is appended to it or rewritten in it.
"""

from dataclasses import dataclass

from kfp import kubernetes
from kfp.dsl import PipelineTask

from edgeopt.containers.images import DEFAULT_PREFIX, IMAGE_TAG, image_ref
from edgeopt.stages import stage

S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "EDGEOPT_S3_ENDPOINT_URL")
UID = 10001  # the images' user
RETRIES = 3  # for the tasks that talk to S3: a dropped connection should not fail a run


@dataclass(frozen=True)
class ClusterOptions:
    """Compile-time choices: where the images live, which secret holds the S3 credentials, and how many
    sweep candidates run at once (KFP fixes a ParallelFor's parallelism when it compiles; 0: no limit)."""

    prefix: str = DEFAULT_PREFIX
    tag: str = IMAGE_TAG
    s3_secret: str | None = None
    parallelism: int = 4


def configure(task: PipelineTask, stage_name: str, options: ClusterOptions, display_name: str) -> PipelineTask:
    """Set `task` (of stage `stage_name`) up for the cluster; return it."""
    entry = stage(stage_name)
    task.set_display_name(display_name)
    task.set_container_image(image_ref(entry.name, options.prefix, options.tag))
    task.set_caching_options(entry.cacheable)
    task.set_cpu_request(entry.cpu).set_memory_request(entry.memory)
    task.set_cpu_limit(entry.cpu_limit).set_memory_limit(entry.memory_limit)
    kubernetes.set_security_context(task, run_as_user=UID, run_as_group=UID, run_as_non_root=True)
    if "s3" in entry.stacks:
        task.set_retry(num_retries=RETRIES, backoff_duration="30s", backoff_factor=2.0)
        if options.s3_secret:
            kubernetes.use_secret_as_env(task, secret_name=options.s3_secret,
                                         secret_key_to_env={key: key for key in S3_SECRET_KEYS})
    return task
