"""atomic_dir: complete or absent, reruns keep the user's files, ordinary permissions."""

import os

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import MANIFEST, atomic_dir, check_writable_dir


def write(folder, **files) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def test_first_write_records_what_it_wrote(tmp_path):
    with atomic_dir(tmp_path / "out") as scratch:
        write(scratch, **{"model.tflite": "m", "metrics.json": "{}"})
    assert (tmp_path / "out" / MANIFEST).read_text().splitlines() == ["metrics.json", "model.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no scratch left beside it


def test_rerun_replaces_its_own_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as scratch:
        write(scratch, **{"model.tflite": "old", "openvino": "stale"})
    write(out, **{"NOTES.md": "mine"})
    (out / "plots").mkdir()
    write(out / "plots", **{"a.png": "png"})
    with atomic_dir(out) as scratch:
        write(scratch, **{"model.tflite": "new"})
    assert (out / "model.tflite").read_text() == "new"
    assert not (out / "openvino").exists()  # edgeopt's own earlier output, no longer written
    assert (out / "NOTES.md").read_text() == "mine" and (out / "plots" / "a.png").read_text() == "png"


def test_a_user_file_under_a_name_edgeopt_needs_is_refused_not_replaced(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as scratch:
        write(scratch, **{"a.json": "1"})
    write(out, **{"report.md": "my report"})
    with pytest.raises(EdgeoptError, match="holds report.md, which edgeopt did not write"):
        with atomic_dir(out) as scratch:
            write(scratch, **{"a.json": "2", "report.md": "generated"})
    assert (out / "report.md").read_text() == "my report" and (out / "a.json").read_text() == "1"


def test_failure_leaves_the_earlier_result_untouched(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as scratch:
        write(scratch, **{"metrics.json": "good"})
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as scratch:
            write(scratch, **{"metrics.json": "half"})
            raise RuntimeError("crash")
    assert (out / "metrics.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_dir(tmp_path / "out") as scratch:
            write(scratch, **{"f": "x"})
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750


def _file_at_target(root):
    (root / "out").write_text("a file")
    return root / "out"


def _file_on_the_path(root):
    (root / "blocker").write_text("x")
    return root / "blocker" / "out"


@pytest.mark.parametrize("make, message", [(_file_at_target, "is a file, not a folder"),
                                           (_file_on_the_path, "blocker is a file")])
def test_unusable_targets_are_refused_before_work(tmp_path, make, message):
    target = make(tmp_path)
    with pytest.raises(EdgeoptError, match=message):
        check_writable_dir(target)
    with pytest.raises(EdgeoptError, match=message):
        with atomic_dir(target):
            pytest.fail("the block must not run")
