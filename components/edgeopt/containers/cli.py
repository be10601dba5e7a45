"""`edgeopt images build|list`: the base image and one image per stage, through the docker SDK.

The engine is the one `DOCKER_HOST` names: Docker, or podman's Docker-compatible API. Images are
built from the repository root (the Dockerfiles COPY components/ and images/requirements/), parents
first (base, tf, then the stages), named `PREFIX/edgeopt-<name>:<tag>`.
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.containers.images import DEFAULT_PREFIX, IMAGE_TAG, STAGES, build_order, default_tag, image_ref, parent_of

BASE = "base"
PYTHON_IMAGE = "python:3.11-slim"
BUILD_TIMEOUT_S = 3600  # longest silence allowed on the build stream (a big pip install prints little)
PREFIX_ENV = "EDGEOPT_IMAGE_PREFIX"
PYTHON_IMAGE_ENV = "EDGEOPT_PYTHON_IMAGE"


def dockerfile(name: str) -> str:
    """Path of an image's Dockerfile, relative to the build context (the repository root)."""
    return f"images/{name}/Dockerfile"


def find_context(explicit: str | None = None) -> Path:
    """The repository root: --context, else the first parent of the working directory (or of the
    edgeopt sources) that holds images/base/Dockerfile."""
    if explicit:
        candidates = [Path(explicit)]
    else:
        here = Path.cwd().resolve()
        source = Path(__file__).resolve().parent
        candidates = [here, *here.parents, source, *source.parents]
    for path in candidates:
        if (path / dockerfile(BASE)).is_file():
            return path
    where = explicit or "the working directory or its parents"
    raise EdgeoptError(f"no {dockerfile(BASE)} found in {where}",
                       "run from the edgeopt repository (the build context is its root) or pass --context")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build the base image and the stage images",
                           description="Build edgeopt-base and edgeopt-<stage> images with the engine at "
                                       "DOCKER_HOST (Docker or podman), from the repository root.")
    _prefix(build)
    build.add_argument("--push", action="store_true", help="push every image after building it")
    build.add_argument("--stage", action="append", choices=STAGES, metavar="STAGE",
                       help=f"build only this stage (repeatable; its parent images are built first): {', '.join(STAGES)}")
    build.add_argument("--python-image", default=os.environ.get(PYTHON_IMAGE_ENV, PYTHON_IMAGE),
                       help=f"image the base starts FROM (default ${PYTHON_IMAGE_ENV} or {PYTHON_IMAGE}); "
                            "any image with python3.11 and its venv module")
    build.add_argument("--no-cache", action="store_true", help="do not use the layer cache")
    build.add_argument("--context", help="repository root (default: found from the working directory)")
    build.add_argument("--quiet", action="store_true", help="print one line per image instead of the build log")
    build.add_argument("--json", action="store_true", help="print the result as JSON")
    listing = sub.add_parser("list", help="print the image references", description="Print the image references.")
    _prefix(listing)
    listing.add_argument("--stages", action="store_true", help="only the stage images (not base and tf)")
    listing.add_argument("--plan", action="store_true",
                         help="one line per image in build order: NAME REF DOCKERFILE PARENT_REF (- for the base)")
    listing.add_argument("--json", action="store_true", help="print the result as JSON")
    files = sub.add_parser("dockerfiles", help="write the stage images' Dockerfiles from the stage table",
                           description="Write images/<stage>/Dockerfile for every stage from the stage table "
                                       "(components/edgeopt/stages.py).")
    files.add_argument("--check", action="store_true", help="write nothing; exit 2 when a Dockerfile is stale")
    files.add_argument("--context", help="repository root (default: found from the working directory)")
    files.add_argument("--json", action="store_true", help="print the result as JSON")


def _prefix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default=os.environ.get(PREFIX_ENV, DEFAULT_PREFIX), metavar="REGISTRY/ORG",
                        help=f"image name prefix (default ${PREFIX_ENV} or {DEFAULT_PREFIX!r})")
    parser.add_argument("--tag", default=None,
                        help="image tag (default: the version for a tagged release, else VERSION-gSHA[-dirty])")


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.quiet_result = not args.json
    if args.images_command == "dockerfiles":
        return dockerfiles(args)
    args.tag = args.tag or default_tag()
    if args.images_command == "list":
        names = list(STAGES) if args.stages else build_order()
        refs = {name: image_ref(name, args.prefix, args.tag) for name in names}
        if not args.json:
            if args.plan:
                for name in names:
                    parent = parent_of(name)
                    print(name, refs[name], dockerfile(name), image_ref(parent, args.prefix, args.tag) if parent else "-")
            else:
                print("\n".join(refs.values()))
        return {"images": refs, "tag": args.tag}
    return build(args)


def dockerfiles(args: argparse.Namespace) -> dict[str, Any]:
    """Write (or with --check, compare) the stage Dockerfiles; EdgeoptError naming the stale ones."""
    from edgeopt.containers.dockerfiles import write_dockerfiles

    changed = write_dockerfiles(find_context(args.context), check=args.check)
    if args.check and changed:
        raise EdgeoptError(f"{', '.join(changed)} {'is' if len(changed) == 1 else 'are'} not what the stage table says",
                           "run `edgeopt images dockerfiles` and commit the result")
    if not args.json:
        print("\n".join(f"wrote {c}" for c in changed) or "every stage Dockerfile is up to date")
    return {"changed": changed, "checked": args.check}


def build(args: argparse.Namespace) -> dict[str, Any]:
    from edgeopt.containers.engine import connect, engine_name

    if args.push and args.prefix.rstrip("/") == DEFAULT_PREFIX:
        raise EdgeoptError("--push needs a registry to push to",
                           "pass --prefix REGISTRY/ORG, for example --prefix ghcr.io/acme")
    context = find_context(args.context)
    names = build_order(args.stage or STAGES)
    client = connect(timeout=BUILD_TIMEOUT_S)
    engine = engine_name(client)
    _say(f"building {len(names)} images with {engine}, context {context}")
    results = []
    try:
        for i, name in enumerate(names, 1):
            ref = image_ref(name, args.prefix, args.tag)
            _say(f"[{i}/{len(names)}] {ref}")
            started = time.monotonic()
            cached, steps = _build_one(client, context, name, ref, args)
            if args.tag != IMAGE_TAG:  # the components name the version: keep it pointing at this build, locally
                client.images.get(ref).tag(ref.rsplit(":", 1)[0], IMAGE_TAG)
            seconds = round(time.monotonic() - started, 1)
            size = client.images.get(ref).attrs.get("Size", 0)
            results.append({"name": name, "image": ref, "seconds": seconds, "size_bytes": size,
                            "steps": steps, "cached_steps": cached})
            _say(f"built {ref} in {seconds:.1f} s ({_mb(size)}, {cached}/{steps} steps from cache)")
            if args.push:
                _push(client, ref, args.quiet)
    finally:
        client.close()
    total = round(sum(r["seconds"] for r in results), 1)
    if not args.json:
        print(render_table(results))
        print(f"total {total:.1f} s with {engine}")
    return {"engine": engine, "images": results, "seconds": total, "pushed": bool(args.push)}


def _build_one(client, context: Path, name: str, ref: str, args: argparse.Namespace) -> tuple[int, int]:
    parent = parent_of(name)
    buildargs = ({"PYTHON_IMAGE": args.python_image} if parent is None
                 else {"BASE_IMAGE": image_ref(parent, args.prefix, args.tag)})
    stream = client.api.build(path=str(context), dockerfile=dockerfile(name), tag=ref, buildargs=buildargs,
                              rm=True, forcerm=True, pull=False, nocache=args.no_cache, decode=True,
                              labels={"org.opencontainers.image.version": args.tag})
    steps = cached = 0
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
            raise EdgeoptError(f"building {ref} failed: {str(detail).strip()}",
                               f"the build log above shows the failing step of {dockerfile(name)}")
        text = chunk.get("stream") or chunk.get("status") or ""
        for line in text.splitlines():
            if _is_step(line):
                steps += 1
            if "Using cache" in line:
                cached += 1
            if line.strip() and (not args.quiet or _is_step(line)):
                print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
    return cached, steps


_STEP = re.compile(r"^(\[\d+/\d+\] )?(Step|STEP) \d+/\d+")


def _is_step(line: str) -> bool:
    return bool(_STEP.match(line))


def _push(client, ref: str, quiet: bool) -> None:
    repository, tag = ref.rsplit(":", 1)
    _say(f"pushing {ref}")
    for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
            raise EdgeoptError(f"pushing {ref} failed: {str(detail).strip()}",
                               "log in to the registry first (`docker login REGISTRY` or "
                               "`podman login REGISTRY`) and check that --prefix names a repository you may write")
        status = chunk.get("status")
        if status and not quiet and "progress" not in chunk:
            print(f"    {chunk.get('id', '')} {status}".rstrip(), file=sys.stderr, flush=True)


def render_table(results: list[dict[str, Any]]) -> str:
    rows = [("image", "size", "build s", "cached steps")]
    rows += [(r["image"], _mb(r["size_bytes"]), f"{r['seconds']:.1f}", f"{r['cached_steps']}/{r['steps']}")
             for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
