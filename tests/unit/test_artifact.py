"""stack/artifact.py: one release id per content, one artifact per target it runs on."""

import tarfile

import pytest

from stack import artifact


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "BUILD_DIR", tmp_path / "build")
    wheels = tmp_path / "wheels"

    def wheelhouse(requirements, python_version, arch, glibc):  # pip download, without the network
        out = wheels / python_version
        out.mkdir(parents=True, exist_ok=True)
        (out / f"pkg-1.0-cp{python_version.replace('.', '')}-none-any.whl").write_bytes(b"wheel")
        return out
    monkeypatch.setattr(artifact, "wheelhouse", wheelhouse)
    source, migrations = tmp_path / "app", tmp_path / "migrations"
    for d in (source, migrations):
        d.mkdir()
    (source / "requirements.txt").write_text("pkg==1.0\n")
    return lambda python: artifact._build(source, migrations, python, "x86_64", "2.36", [])


def test_hosts_on_two_pythons_get_one_release_in_two_artifacts_with_their_own_wheels(build):
    (old_id, old), (new_id, new) = build("3.11"), build("3.13")
    assert old_id == new_id and old != new
    for path, tag in ((old, "cp311"), (new, "cp313")):
        with tarfile.open(path) as tar:
            assert [n for n in tar.getnames() if n.endswith(".whl")] == [f"wheelhouse/pkg-1.0-{tag}-none-any.whl"]


def test_a_second_build_for_the_same_target_reuses_the_artifact(build):
    first = build("3.13")
    assert build("3.13") == first
