"""stack/pyinfra_private.py: written for one pyinfra version; any other fails here first."""

import importlib.metadata

import pytest
from pyinfra import host as host_proxy
from pyinfra import state as state_proxy

from stack import pyinfra_private


def test_installed_pyinfra_is_the_version_the_private_api_uses_were_written_for():
    installed = importlib.metadata.version("pyinfra")
    assert installed == pyinfra_private.WRITTEN_FOR, (
        f"pyinfra {installed} is installed; stack/pyinfra_private.py was written for "
        f"{pyinfra_private.WRITTEN_FOR}: check each of its uses against the new source, then bump WRITTEN_FOR")


@pytest.mark.parametrize("module, name", [
    ("pyinfra.api.state", "State.init"),
    ("pyinfra.api.state", "State.add_callback_handler"),
    ("pyinfra_cli.cli", "print_run_json"),
    ("pyinfra_cli.prints", "build_plan_json"),
    ("pyinfra.api.operation", "OperationMeta.did_change"),
])
def test_each_private_name_still_exists(module, name):
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


@pytest.mark.parametrize("proxy", [host_proxy, state_proxy], ids=["host", "state"])
def test_context_proxies_still_hand_out_their_object(proxy):
    assert callable(getattr(type(proxy), "_get_module", None))


def test_nothing_changed_is_undone_afterwards():
    from pyinfra.api.operation import OperationMeta

    real = OperationMeta.did_change
    with pyinfra_private.nothing_changed() as original:
        assert original is real and OperationMeta.did_change(object()) is False
    assert OperationMeta.did_change is real

