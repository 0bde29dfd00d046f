"""Code stamps: which project files a stage's entry modules may run, and the hash that changes with them.

tests/launch/test_plan.py checks the closure on a small package and on the real data build; these pin the import
forms one by one (relative levels, ``from . import``, packages versus modules) and what the hash covers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launch.code_stamp import code_stamp, module_closure, module_file

REPO = Path(__file__).resolve().parents[2]


def make(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def closure(root: Path, *entries: str) -> list[str]:
    return [str(p.relative_to(root)) for p in module_closure(entries, root)]


def test_module_file_finds_a_module_or_a_package_and_nothing_else(tmp_path):
    make(tmp_path, {"pkg/__init__.py": "", "pkg/mod.py": "", "pkg/sub/__init__.py": "", "pkg/data.txt": "",
                    "both.py": "", "both/__init__.py": ""})
    assert module_file("pkg", tmp_path) == tmp_path / "pkg" / "__init__.py"
    assert module_file("pkg.mod", tmp_path) == tmp_path / "pkg" / "mod.py"
    assert module_file("pkg.sub", tmp_path) == tmp_path / "pkg" / "sub" / "__init__.py"
    assert module_file("both", tmp_path) == tmp_path / "both.py"  # as Python imports it: the module wins
    assert module_file("pkg.data", tmp_path) is None and module_file("os", tmp_path) is None


@pytest.mark.parametrize(("source", "found"), [
    ("from . import b", ["p/q/b.py"]),
    ("from .b import X", ["p/q/b.py"]),
    ("from .. import c", ["p/c.py"]),
    ("from ..c import Y", ["p/c.py"]),
    ("from ...top import Z", ["top.py"]),
    ("from p.q import b", ["p/q/b.py"]),
    ("import p.c", ["p/c.py"]),
    ("import os, json\nfrom collections import OrderedDict", []),
    ("def f():\n    if True:\n        import p.c\n", ["p/c.py"]),  # nested, lazy imports run too
])
def test_every_import_form_is_followed(tmp_path, source, found):
    make(tmp_path, {"p/__init__.py": "", "p/q/__init__.py": "", "p/q/a.py": source, "p/q/b.py": "",
                    "p/c.py": "", "top.py": ""})
    assert closure(tmp_path, "p.q.a") == sorted(["p/__init__.py", "p/q/__init__.py", "p/q/a.py", *found])


@pytest.mark.parametrize(("source", "found"), [
    ("from . import d", ["p/q/r/d.py"]),
    ("from ..c import Y", ["p/q/c.py"]),
    ("from ...b import Z", ["p/b.py"]),
])
def test_relative_levels_count_from_the_module_s_own_package(tmp_path, source, found):
    make(tmp_path, {"p/__init__.py": "", "p/q/__init__.py": "", "p/q/r/__init__.py": "", "p/q/r/a.py": source,
                    "p/q/r/d.py": "", "p/q/c.py": "", "p/b.py": ""})
    assert closure(tmp_path, "p.q.r.a") == sorted(["p/__init__.py", "p/q/__init__.py", "p/q/r/__init__.py",
                                                   "p/q/r/a.py", *found])


def test_relative_imports_of_a_package_init_start_from_the_package_itself(tmp_path):
    make(tmp_path, {"p/__init__.py": "from .x import f\nfrom . import y\n", "p/x.py": "", "p/y.py": "",
                    "p/z.py": ""})
    assert closure(tmp_path, "p") == ["p/__init__.py", "p/x.py", "p/y.py"]


def test_imports_are_followed_transitively_and_cycles_end(tmp_path):
    make(tmp_path, {"a.py": "import b\n", "b.py": "from c import k\n", "c.py": "import a\nk = 1\n", "d.py": ""})
    assert closure(tmp_path, "a") == ["a.py", "b.py", "c.py"]
    assert closure(tmp_path, "b", "d") == ["a.py", "b.py", "c.py", "d.py"]
    assert closure(tmp_path, "missing") == []


def test_several_entries_of_one_package(tmp_path):
    make(tmp_path, {"p/__init__.py": "", "p/x.py": "", "p/y.py": "", "p/z.py": ""})
    assert closure(tmp_path, "p.x", "p.y") == ["p/__init__.py", "p/x.py", "p/y.py"]


def test_a_module_of_a_namespace_package_is_found(tmp_path):
    make(tmp_path, {"a.py": "import ns.sub.m\n", "ns/sub/m.py": "import b\n", "b.py": ""})  # no __init__.py
    assert closure(tmp_path, "a") == ["a.py", "b.py", "ns/sub/m.py"]


def test_the_root_folder_is_not_a_package_of_the_closure(tmp_path):
    make(tmp_path, {"__init__.py": "", "a.py": "import b\n", "b.py": ""})
    assert closure(tmp_path, "a") == ["a.py", "b.py"]


def test_a_file_that_does_not_parse_is_named(tmp_path):
    make(tmp_path, {"a.py": "import b\n", "b.py": "def broken(:\n"})
    with pytest.raises(SyntaxError) as err:
        code_stamp(["a"], tmp_path)
    assert err.value.filename == str(tmp_path / "b.py")


def test_the_stamp_is_the_same_whatever_the_locale(tmp_path):
    """Sources hold non-ASCII text (the reward docstrings write λ): a driver on a plain C (ASCII) locale stamps
    them as this one does."""
    make(tmp_path, {"a.py": '"""Eq. 7: λ_t Δ(T)."""\nimport b\n', "b.py": "NAME = 'é'\n"})
    here = code_stamp(["a"], tmp_path)
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    code = ("import sys; from pathlib import Path; from launch.code_stamp import code_stamp; "
            "print(code_stamp(['a'], Path(sys.argv[1])))")
    got = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == here


def test_the_stamp_covers_the_content_and_the_name_of_every_file_in_the_closure(tmp_path):
    make(tmp_path, {"a.py": "import b\n", "b.py": "X = 1\n", "other.py": "Y = 1\n"})
    stamp = code_stamp(["a"], tmp_path)
    assert len(stamp) == 64 and code_stamp(["a"], tmp_path) == stamp
    (tmp_path / "other.py").write_text("Y = 2\n")
    assert code_stamp(["a"], tmp_path) == stamp  # not imported
    (tmp_path / "b.py").write_text("X = 2\n")
    assert code_stamp(["a"], tmp_path) != stamp
    make(tmp_path / "one", {"m.py": "X = 1\n"})
    make(tmp_path / "two", {"n.py": "X = 1\n"})
    assert code_stamp(["m"], tmp_path / "one") != code_stamp(["n"], tmp_path / "two")  # same bytes, other module


def test_moving_bytes_between_files_changes_the_stamp(tmp_path):
    """Paths and contents are hashed per file, so shifting text from one file to the next is a change."""
    make(tmp_path / "x", {"a.py": "import b\nX = 1\n", "b.py": ""})
    make(tmp_path / "y", {"a.py": "import b\n", "b.py": "X = 1\n"})
    assert code_stamp(["a"], tmp_path / "x") != code_stamp(["a"], tmp_path / "y")
