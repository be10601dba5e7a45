"""`edgeopt registry`: list, show and clean up the entries of a model registry (a folder, s3:// or
an MLflow tracking server, mlflow+http://HOST:PORT), and write the baseline of `baseline: registry`.

    edgeopt registry list     --registry R [--name NAME] [--json]
    edgeopt registry show     --registry R NAME VERSION      (VERSION: v3, 3, or `latest`)
    edgeopt registry gc       --registry R [--name NAME] [--older-than HOURS] [--dry-run] [--json]
    edgeopt registry baseline --registry R NAME [--output DIR]

`gc` removes entries that were never completed (no metadata.json) and whose newest write is
older than the grace period (default 24 hours): on S3 unfinished version prefixes, locally
`.incoming-*` scratch folders and version folders without metadata.json. Complete entries are
never touched. `baseline` prints the metrics of NAME's latest promoted version (and writes them to
DIR/metrics.json) for `edgeopt validate --registry-baseline`; before the first promotion it says so.
"""

import argparse
from typing import Any

from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.promote.baseline import latest_promoted
from edgeopt.promote.core import collect_garbage, list_entries, show_entry

LIST_COLUMNS = ("name", "version", "created", "passed", "target", "forced")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the complete entries", description="list the complete entries")
    _registry_argument(listing)
    listing.add_argument("--name", help="only this model name")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = actions.add_parser("show", help="print an entry's metadata JSON", description="print an entry's metadata")
    _registry_argument(show)
    show.add_argument("name", help="model name")
    show.add_argument("version", help="version, e.g. v3, or latest")
    gc = actions.add_parser("gc", help="remove abandoned (never completed) entries",
                            description="remove abandoned (never completed) entries; complete ones are never touched")
    _registry_argument(gc)
    gc.add_argument("--name", help="only this model name")
    gc.add_argument("--older-than", type=float, default=24.0, metavar="HOURS",
                    help="grace period: only entries whose newest write is older than this (default 24)")
    gc.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    gc.add_argument("--json", action="store_true", help="print JSON instead of one line per entry")
    baseline = actions.add_parser("baseline", help="the metrics of a model's latest promoted version",
                                  description="print (and write) the metrics of the latest promoted version of NAME, "
                                              "the baseline of a targets file with `baseline: registry`")
    _registry_argument(baseline)
    baseline.add_argument("name", help="model name")
    baseline.add_argument("--output", help="directory that receives metrics.json")


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run the chosen action; return a dict for the CLI to print as JSON, or None when a table was printed."""
    if args.action == "show":
        return show_entry(args.registry, args.name, args.version)
    if args.action == "baseline":
        doc = latest_promoted(args.registry, args.name)
        if args.output:
            with atomic_dir(args.output) as out:
                write_metrics(out, doc)
        return doc
    if args.action == "list":
        entries = list_entries(args.registry, args.name)
        if args.json:
            return {"registry": args.registry, "entries": entries}
        print(render_table(entries) if entries else f"no complete entries in {args.registry}")
        return None
    result = collect_garbage(args.registry, args.older_than, args.dry_run, args.name)
    if args.json:
        return result
    print(render_gc(result))
    return None


def render_table(entries: list[dict[str, Any]]) -> str:
    """The entries as a text table, one row each."""
    rows = [list(LIST_COLUMNS)] + [[_cell(e[c]) for c in LIST_COLUMNS] for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(LIST_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_gc(result: dict[str, Any]) -> str:
    """One line per entry removed (or that would be), and per entry kept because it changed meanwhile."""
    verb = "would remove" if result["dry_run"] else "removed"
    lines = [f"{verb} {r['uri']} ({r['objects']} files, newest {r['age_hours']:.1f} h old)" for r in result["removed"]]
    lines += [f"kept {r['uri']}: it was completed or claimed again meanwhile" for r in result["kept"]]
    return "\n".join(lines) or (f"nothing to remove in {result['registry']} (no unfinished entry older than "
                                f"{result['older_than_hours']:g} h)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _registry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default="./registry",
                        help="registry folder, s3://bucket/prefix or mlflow+http://HOST:PORT (default ./registry); "
                             "S3 and MLflow credentials come from the environment")
