"""cnnlab.atomic.atomic_folder: a folder replaced whole or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from cnnlab.atomic import WriteError, atomic_folder


def _fill(path, text):
    with atomic_folder(path) as folder:
        (folder / "a.txt").write_text(text)
        (folder / "b.txt").write_text(text * 2)


def test_a_folder_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path):
    target = tmp_path / "entry"
    _fill(target, "old")
    _fill(target, "new")
    assert (target / "a.txt").read_text() == "new" and (target / "b.txt").read_text() == "newnew"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_a_failing_block_leaves_the_earlier_folder_and_no_temporary_one(tmp_path):
    target = tmp_path / "entry"
    _fill(target, "old")
    with pytest.raises(RuntimeError), atomic_folder(target) as folder:
        (folder / "a.txt").write_text("half")
        raise RuntimeError("stopped mid-write")
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


@pytest.mark.parametrize("error", [OSError(errno.EACCES, "refused"), KeyboardInterrupt()], ids=["EACCES", "Ctrl-C"])
def test_a_rename_that_fails_after_the_old_folder_moved_aside_puts_it_back(tmp_path, monkeypatch, error):
    target = tmp_path / "entry"
    _fill(target, "old")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the first moves the old folder aside, the second would put the new one in
            raise error
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(WriteError if isinstance(error, OSError) else KeyboardInterrupt):
        _fill(target, "new")
    monkeypatch.setattr(os, "replace", real)
    assert (target / "a.txt").read_text() == "old" and (target / "b.txt").read_text() == "oldold"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_a_writer_whose_folder_arrives_between_the_renames_is_replaced(tmp_path, monkeypatch):
    target = tmp_path / "entry"
    _fill(target, "old")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # another process puts its complete folder in place first
            (target).mkdir()
            (target / "a.txt").write_text("theirs")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    _fill(target, "new")
    monkeypatch.setattr(os, "replace", real)
    assert (target / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]
