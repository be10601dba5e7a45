"""The local registry's preflight check, garbage collection and the `edgeopt registry` command."""

import errno
import json
import os
import tempfile
import time

import pytest
from test_promote import bundle, make_bundle, passed  # noqa: F401 (fixtures)

from edgeopt.cli import main
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote.core import check_registry, collect_garbage, list_entries, list_versions, promote, show_entry

DAY = 24 * 3600


def age(path, seconds: float) -> None:
    """Make everything under `path` (and `path`) look `seconds` old."""
    when = time.time() - seconds
    for p in [path, *path.rglob("*")]:
        os.utime(p, (when, when), follow_symlinks=False)


def test_check_registry_creates_nothing_it_leaves_behind(tmp_path):
    check_registry(str(tmp_path / "new" / "registry"), "m")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "registry").mkdir()
    check_registry(str(tmp_path / "registry"), "m")
    assert list((tmp_path / "registry").iterdir()) == []
    (tmp_path / "registry" / "m").mkdir()
    (tmp_path / "registry" / "m" / "keep").write_text("x")
    check_registry(str(tmp_path / "registry"), "m")
    assert [p.name for p in (tmp_path / "registry" / "m").iterdir()] == ["keep"]


@pytest.mark.parametrize("blocker", ["registry", "registry/m", "parent"])
def test_check_registry_refuses_a_file_in_the_way(tmp_path, blocker):
    (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocker).write_text("a file")
    root = tmp_path / ("parent/registry" if blocker == "parent" else "registry")
    with pytest.raises(EdgeoptError, match=f"cannot be used: {tmp_path / blocker} is a file") as err:
        check_registry(str(root), "m")
    assert "folder path" in err.value.hint


@pytest.mark.parametrize(("code", "hint"), [(errno.EACCES, "writable for this user"), (errno.EROFS, "read-only"),
                                            (errno.ENOSPC, "free space")])
def test_check_registry_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch, code, hint):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(EdgeoptError, match=f"cannot write the registry entry under {tmp_path / 'new' / 'm'}: "
                                           f"{os.strerror(code)}") as err:
        check_registry(str(tmp_path / "new"), "m")
    assert hint in err.value.hint
    assert not (tmp_path / "new").exists()


def test_check_registry_refuses_a_bad_name_or_scheme(tmp_path):
    with pytest.raises(EdgeoptError, match="cannot be used in the registry"):
        check_registry(str(tmp_path), "a/b")
    with pytest.raises(EdgeoptError, match="unsupported scheme"):
        check_registry("gs://bucket/registry", "m")


def test_gc_removes_old_unfinished_work_only(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    promote(bundle, passed, registry, "m")
    home = registry / "m"
    old_scratch, new_scratch, broken = home / ".incoming-crashed", home / ".incoming-running", home / "v5"
    for folder in (old_scratch / "model", new_scratch / "model", broken):
        folder.mkdir(parents=True)
    (old_scratch / "model" / "model.tflite").write_bytes(b"half")
    (broken / "verdict.json").write_text("{}")
    age(home / "v1", 3 * DAY)  # complete entries are never removed, however old
    age(old_scratch, 2 * DAY)
    age(broken, 2 * DAY)

    dry = collect_garbage(registry, dry_run=True)
    assert sorted((r["entry"], r["objects"]) for r in dry["removed"]) == [(".incoming-crashed", 1), ("v5", 1)]
    assert all(r["age_hours"] >= 47.9 for r in dry["removed"])
    assert old_scratch.exists() and broken.exists()

    done = collect_garbage(str(registry))
    assert sorted(r["uri"] for r in done["removed"]) == [str(old_scratch), str(broken)]
    assert sorted(p.name for p in home.iterdir()) == [".incoming-running", "v1"]
    assert list_versions(registry, "m") == ["v1"]
    assert [r["entry"] for r in collect_garbage(registry, older_than_hours=0)["removed"]] == [".incoming-running"]
    assert sorted(p.name for p in home.iterdir()) == ["v1"]


def test_gc_refuses_a_negative_grace_period(tmp_path):
    with pytest.raises(EdgeoptError, match="is negative"):
        collect_garbage(tmp_path, older_than_hours=-1)


def test_list_and_show(tmp_path, passed):
    registry = tmp_path / "registry"
    assert list_entries(registry) == []
    promote(make_bundle(tmp_path / "a"), passed, registry, "alpha")
    promote(make_bundle(tmp_path / "b"), passed, registry, "beta")
    promote(make_bundle(tmp_path / "c"), passed, registry, "beta")
    (registry / "beta" / "v9").mkdir()  # unfinished: not listed
    rows = list_entries(registry)
    assert [(r["name"], r["version"]) for r in rows] == [("alpha", "v1"), ("beta", "v1"), ("beta", "v2")]
    assert rows[0]["passed"] is True and rows[0]["forced"] is False and rows[0]["target"] == "cortex-m4f@80mhz"
    assert [r["version"] for r in list_entries(registry, "beta")] == ["v1", "v2"]
    assert show_entry(registry, "beta", "latest")["version"] == "v2"
    assert show_entry(registry, "beta", "v1")["content_sha256"] != show_entry(registry, "beta", "v2")["content_sha256"]
    for version in ("v9", "v3", "nonsense"):
        with pytest.raises(EdgeoptError, match=f"has no complete entry beta/{version}"):
            show_entry(registry, "beta", version)
    with pytest.raises(EdgeoptError, match="no complete entry gamma/latest"):
        show_entry(registry, "gamma", "latest")


def test_registry_command(tmp_path, bundle, passed, capsys):
    registry = str(tmp_path / "registry")
    assert main(["registry", "list", "--registry", registry]) == 0
    assert capsys.readouterr().out.strip() == f"no complete entries in {registry}"
    promote(bundle, passed, registry, "m")
    assert main(["registry", "list", "--registry", registry, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["registry"] == registry and [e["version"] for e in listed["entries"]] == ["v1"]
    assert main(["registry", "show", "--registry", registry, "m", "v1"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"]["model/model.tflite"]
    assert main(["registry", "show", "--registry", registry, "m", "v2"]) == 2
    captured = capsys.readouterr()
    assert "error: " in captured.err and "has no complete entry m/v2" in captured.err and not captured.out
    assert main(["registry", "gc", "--registry", registry]) == 0
    assert capsys.readouterr().out.startswith(f"nothing to remove in {registry}")
