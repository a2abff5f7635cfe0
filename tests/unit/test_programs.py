"""The host programs' zipapps (stack/programs.py): the same bytes from the same source,
new bytes from an edited module, and they run."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from stack.programs import HOSTTOOLS, build

PROGRAMS = ["stack_app", "stack_backup", "stack_influx", "stack_mysql"]


@pytest.mark.parametrize("package", PROGRAMS)
def test_building_twice_gives_the_same_bytes(package):
    assert build(HOSTTOOLS / package) == build(HOSTTOOLS / package)


def test_the_bytes_do_not_depend_on_the_files_times_or_modes(tmp_path):
    copy = shutil.copytree(HOSTTOOLS / "stack_mysql", tmp_path / "stack_mysql")
    for path in copy.rglob("*.py"):
        os.utime(path, (0, 0))
        path.chmod(0o755)
    assert build(copy) == build(HOSTTOOLS / "stack_mysql")


def test_editing_a_module_changes_the_bytes(tmp_path):
    copy = shutil.copytree(HOSTTOOLS / "stack_mysql", tmp_path / "stack_mysql")
    before = build(copy)
    with open(copy / "cli.py", "a") as f:
        f.write("# edited\n")
    assert build(copy) != before


@pytest.mark.parametrize("package", PROGRAMS)
def test_the_zipapp_runs(tmp_path, package):
    name = package.replace("_", "-")
    program = tmp_path / name
    program.write_bytes(build(HOSTTOOLS / package))
    out = subprocess.run([sys.executable, str(program), "--help"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {name} ")


def test_the_zipapp_holds_the_package_its_main_and_the_hosts_python(tmp_path):
    data = build(HOSTTOOLS / "stack_backup")
    assert data.startswith(b"#!/usr/bin/python3\n")
    (tmp_path / "stack-backup").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "stack-backup") as z:
        names = z.namelist()
        assert names == sorted(names) and "__main__.py" in names and "stack_backup/cli.py" in names
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert not [n for n in names if "__pycache__" in n]


def test_stack_apps_scripts_are_read_from_its_zipapp(tmp_path):
    """plan, head and record run from their source in a release's venv: the zipapp must
    give it, as the repository's package does."""
    program = tmp_path / "stack-app"
    program.write_bytes(build(HOSTTOOLS / "stack_app"))
    read = ("import sys; sys.path.insert(0, sys.argv[1]); from stack_app.app import script; "
            "print(script('head'))")
    out = subprocess.run([sys.executable, "-c", read, str(program)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (HOSTTOOLS / "stack_app/head_script.py").read_text() + "\n"
