"""`edgeopt compile`: the pipeline packages (KFP YAML) for a cluster, naming your image registry.

Every task runs in its own stage image; the packages name `PREFIX/edgeopt-<stage>:<version>`.
With an S3 secret (the default, `edgeopt-s3` from manifests/base), the tasks that read or write
s3:// URIs (ingest, promote) get its keys as environment variables through the KFP Kubernetes
platform spec; the values stay in the cluster and never enter the package.
"""

import argparse
import os
import re
from pathlib import Path
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.images import DEFAULT_PREFIX, IMAGE_TAG, image_for
from edgeopt.stages import STAGES

# pipeline package name -> (module, function)
PIPELINES = {"edge-optimize": ("edgeopt.pipelines.edge_optimize", "edge_optimize")}
S3_SECRET = "edgeopt-s3"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "EDGEOPT_S3_ENDPOINT_URL")
S3_STAGES = tuple(s.name for s in STAGES if "s3" in s.stacks)  # the stages that fetch from or write to s3://
_IMAGE_LINE = re.compile(r"^(\s*image:\s*)(\S+)\s*$", re.M)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default=os.environ.get("EDGEOPT_IMAGE_PREFIX", DEFAULT_PREFIX),
                        metavar="REGISTRY/ORG",
                        help=f"image name prefix of the stage images (default $EDGEOPT_IMAGE_PREFIX or {DEFAULT_PREFIX!r})")
    parser.add_argument("--output", dest="package_dir", default="build/pipelines",
                        help="folder for the packages (default build/pipelines)")
    parser.add_argument("--pipeline", action="append", choices=sorted(PIPELINES),
                        help="compile only this pipeline (default all)")
    parser.add_argument("--s3-secret", default=S3_SECRET, metavar="NAME",
                        help=f"Kubernetes secret whose keys ({', '.join(S3_SECRET_KEYS)}) become the "
                             f"environment of {' and '.join(S3_STAGES)} (default {S3_SECRET})")
    parser.add_argument("--no-s3-secret", dest="s3_secret", action="store_const", const=None,
                        help="compile without the secret (local paths only, or credentials set another way)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.package_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in args.pipeline or sorted(PIPELINES):
        path = out / f"{name.replace('-', '_')}.yaml"
        compile_package(name, path, prefix=args.prefix, s3_secret=args.s3_secret)
        written[name] = str(path)
    return {"packages": written, "images": {s.name: image_for(s.name, args.prefix) for s in STAGES},
            "s3_secret": args.s3_secret}


def compile_package(name: str, path: Path, prefix: str = DEFAULT_PREFIX, s3_secret: str | None = S3_SECRET) -> Path:
    """Compile pipeline `name` to `path` with images under `prefix` and, optionally, the S3 secret."""
    import importlib

    from kfp import compiler

    module, func = PIPELINES[name]
    pipeline = getattr(importlib.import_module(module), func)
    tmp = path.with_name(f".tmp-{path.name}")
    compiler.Compiler().compile(pipeline, str(tmp))
    text = retarget_images(tmp.read_text(), prefix)
    if s3_secret:
        text = text.rstrip("\n") + "\n---\n" + yaml.safe_dump(platform_spec(text, s3_secret), sort_keys=True)
    tmp.write_text(text)
    tmp.replace(path)
    return path


def retarget_images(text: str, prefix: str) -> str:
    """Replace the default-prefix stage images in a compiled package by `prefix`'s; refuse others."""
    defaults = {image_for(s.name): image_for(s.name, prefix) for s in STAGES}

    def swap(match: re.Match) -> str:
        image = match.group(2)
        if image not in defaults:
            raise EdgeoptError(f"the compiled pipeline names image {image}, which is no edgeopt stage image "
                               f"of version {IMAGE_TAG}", "every component must use image_for(<stage>)")
        return match.group(1) + defaults[image]

    return _IMAGE_LINE.sub(swap, text)


def platform_spec(text: str, secret: str) -> dict[str, Any]:
    """The KFP Kubernetes platform spec giving the S3 stages the secret's keys as environment."""
    spec = yaml.safe_load(text)
    executors = spec["deploymentSpec"]["executors"]

    def secret_env() -> list[dict[str, Any]]:  # a fresh list per executor: no YAML anchors
        return [{"secretName": secret, "keyToEnv": [{"secretKey": k, "envVar": k} for k in S3_SECRET_KEYS]}]

    wanted = {f"exec-{stage}" for stage in S3_STAGES}
    missing = wanted - set(executors)
    if missing:
        raise EdgeoptError(f"the pipeline has no executor {', '.join(sorted(missing))}", "")
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        name: {"secretAsEnv": secret_env()} for name in sorted(wanted)}}}}}


def load_package(path: Path | str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(pipeline spec, platform spec or None) of a compiled package."""
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    return docs[0], (docs[1] if len(docs) > 1 else None)
