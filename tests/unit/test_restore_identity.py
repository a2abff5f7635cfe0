"""stack.restore_identity: where the restore and the drill find the age identity."""

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

from stack import restore_identity


def host(**data):
    return SimpleNamespace(data=SimpleNamespace(get=data.get))


def test_without_an_identity_the_flow_is_refused_in_one_line_naming_the_variable(monkeypatch):
    monkeypatch.delenv("STACK_BACKUP_AGE_IDENTITY_FILE", raising=False)
    with pytest.raises(PyinfraError, match="set STACK_BACKUP_AGE_IDENTITY_FILE") as e:
        restore_identity.identity_file(host())
    assert "\n" not in str(e.value)  # pyinfra prints a PyinfraError as its one line, no traceback


def test_the_inventorys_identity_file_is_used_when_the_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("STACK_BACKUP_AGE_IDENTITY_FILE", raising=False)
    (tmp_path / "identity.txt").write_text("an age identity (test content)")
    assert restore_identity.identity_file(host(backup_age_identity_file=str(tmp_path / "identity.txt"))) == \
        tmp_path / "identity.txt"


def test_the_variable_wins_over_the_inventory(monkeypatch, tmp_path):
    (tmp_path / "a").write_text("x")
    monkeypatch.setenv("STACK_BACKUP_AGE_IDENTITY_FILE", str(tmp_path / "a"))
    assert restore_identity.identity_file(host(backup_age_identity_file="/nonexistent")) == tmp_path / "a"


def test_a_named_file_that_does_not_exist_is_refused(monkeypatch):
    monkeypatch.setenv("STACK_BACKUP_AGE_IDENTITY_FILE", "/nonexistent/identity.txt")
    with pytest.raises(PyinfraError, match="/nonexistent/identity.txt does not exist"):
        restore_identity.identity_file(host())
