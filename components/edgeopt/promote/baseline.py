"""The registry baseline: what the latest promoted version of a model measured, for a targets file
with `baseline: registry` (TFX's "latest blessed model").

`latest_promoted(registry, name)` returns::

    {"source": "registry", "registry", "name",
     "version": the newest complete entry that passed its gate ("v3"), or None before the first,
     "uri", "created", "quality": {metric: value}, "targets": [{"target", "runtime", "metrics"}],
     "note": why there is nothing to compare with ("" when there is)}

Entries promoted with --force are skipped: their verdict failed, so they were never blessed.
validate-targets reads this document (`edgeopt validate --registry-baseline FILE`).
"""

from pathlib import Path
from typing import Any

from edgeopt.promote.core import check_name
from edgeopt.promote.registry import open_registry


def latest_promoted(registry: str | Path, name: str) -> dict[str, Any]:
    """The metrics of the newest complete, passed entry of `name` in `registry` (see the module)."""
    store = open_registry(registry)
    doc: dict[str, Any] = {"source": "registry", "registry": str(registry), "name": check_name(name), "version": None,
                           "uri": None, "created": None, "quality": {}, "targets": [],
                           "note": f"{name} has no promoted version in {registry} yet: this is its first promotion"}
    for version in reversed(store.versions(name)):
        meta = store.metadata(name, version) or {}
        if meta.get("passed") is True:
            metrics = meta.get("metrics") or {}
            return {**doc, "version": version, "uri": store.entry_uri(name, version), "created": meta.get("created"),
                    "quality": metrics.get("quality") or {}, "targets": metrics.get("targets") or [],
                    "note": "" if metrics else f"{version} records no metrics (it was promoted by an older edgeopt)"}
    return doc
