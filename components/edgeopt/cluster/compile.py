"""`edgeopt compile`: the pipeline packages (KFP YAML) for a cluster, naming your image registry.

Every task runs in its own stage image; the packages name `PREFIX/edgeopt-<stage>:TAG`, TAG as
`edgeopt images build` tags this checkout (`--tag` to choose). The tasks carry their cluster
settings from the stage table (caching, resources, retries, non-root security context). With an S3 secret (the default, `edgeopt-s3` from manifests/base), the tasks that read or write
s3:// URIs (ingest, promote) get its keys as environment variables through the KFP Kubernetes
platform spec; the values stay in the cluster and never enter the package.
"""

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.pipelines.cluster import S3_SECRET_KEYS, ClusterOptions
from edgeopt.containers.images import DEFAULT_PREFIX, IMAGE_TAG, default_tag, image_ref
from edgeopt.stages import STAGES

# pipeline package name -> (module, function)
PIPELINES = {"edge-optimize": ("edgeopt.pipelines.edge_optimize", "pipeline"),  # module, factory(ClusterOptions)
             "edge-sweep": ("edgeopt.pipelines.edge_sweep", "pipeline")}
S3_SECRET = "edgeopt-s3"
S3_STAGES = tuple(s.name for s in STAGES if "s3" in s.stacks)  # the stages that fetch from or write to s3://


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default=os.environ.get("EDGEOPT_IMAGE_PREFIX", DEFAULT_PREFIX),
                        metavar="REGISTRY/ORG",
                        help=f"image name prefix of the stage images (default $EDGEOPT_IMAGE_PREFIX or {DEFAULT_PREFIX!r})")
    parser.add_argument("--tag", default=None,
                        help="image tag (default: as `edgeopt images build` tags this checkout: the version for a "
                             "tagged release, else VERSION-gSHA[-dirty])")
    parser.add_argument("--output", dest="package_dir", default="build/pipelines",
                        help="folder for the packages (default build/pipelines)")
    parser.add_argument("--pipeline", action="append", choices=sorted(PIPELINES),
                        help="compile only this pipeline (default all)")
    parser.add_argument("--s3-secret", default=S3_SECRET, metavar="NAME",
                        help=f"Kubernetes secret whose keys ({', '.join(S3_SECRET_KEYS)}) become the "
                             f"environment of {' and '.join(S3_STAGES)} (default {S3_SECRET})")
    parser.add_argument("--no-s3-secret", dest="s3_secret", action="store_const", const=None,
                        help="compile without the secret (local paths only, or credentials set another way)")
    parser.add_argument("--parallelism", type=int, default=ClusterOptions.parallelism, metavar="N",
                        help=f"edge-sweep: candidates run at once (KFP fixes it at compile time; 0: no limit; "
                             f"default {ClusterOptions.parallelism})")


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.package_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = args.tag or default_tag()
    written = {}
    for name in args.pipeline or sorted(PIPELINES):
        path = out / f"{name.replace('-', '_')}.yaml"
        compile_package(name, path, prefix=args.prefix, s3_secret=args.s3_secret, tag=tag,
                        parallelism=args.parallelism)
        written[name] = str(path)
    return {"packages": written, "images": {s.name: image_ref(s.name, args.prefix, tag) for s in STAGES},
            "s3_secret": args.s3_secret, "tag": tag}


def compile_package(name: str, path: Path, prefix: str = DEFAULT_PREFIX, s3_secret: str | None = S3_SECRET,
                    tag: str = IMAGE_TAG, parallelism: int = ClusterOptions.parallelism) -> Path:
    """Compile pipeline `name` to `path` with images `prefix`/edgeopt-<stage>:`tag`, optionally the S3
    secret mapped into the tasks that read or write s3:// (through kfp-kubernetes), and a sweep's
    `parallelism`."""
    if parallelism < 0:
        raise EdgeoptError(f"--parallelism {parallelism} is negative", "pass 0 (no limit) or the number of workers")
    import importlib

    from kfp import compiler

    module, factory = PIPELINES[name]
    pipeline = getattr(importlib.import_module(module), factory)(ClusterOptions(prefix, tag, s3_secret, parallelism))
    tmp = path.with_name(f".tmp-{path.name}")
    compiler.Compiler().compile(pipeline, str(tmp))
    tmp.replace(path)
    return path


def load_package(path: Path | str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(pipeline spec, platform spec or None) of a compiled package."""
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    return docs[0], (docs[1] if len(docs) > 1 else None)
