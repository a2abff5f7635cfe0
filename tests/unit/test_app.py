"""The app's gunicorn settings (files/app/gunicorn.conf.py): seed 003's memory limit."""

import logging
import runpy
from types import SimpleNamespace

from tests.helpers import REPO

CONF = str(REPO / "files/app/gunicorn.conf.py")


def conf(monkeypatch, memory_max):
    if memory_max is None:
        monkeypatch.delenv("APP_MEMORY_MAX", raising=False)
    else:
        monkeypatch.setenv("APP_MEMORY_MAX", memory_max)
    return runpy.run_path(CONF)


def worker():
    return SimpleNamespace(alive=True, pid=4242, log=logging.getLogger("test"))


def test_each_worker_gets_an_equal_share_of_90_percent_of_the_limit(monkeypatch):
    c = conf(monkeypatch, "1G")
    assert c["worker_memory_max"] == int(1024**3 * 0.9 / c["workers"])


def test_a_worker_past_its_share_is_replaced_after_its_request(monkeypatch):
    c = conf(monkeypatch, "1M")  # every Python process is past that
    w = worker()
    c["post_request"](w, None, {}, None)
    assert w.alive is False


def test_a_worker_within_its_share_keeps_serving(monkeypatch):
    c = conf(monkeypatch, "64G")
    w = worker()
    c["post_request"](w, None, {}, None)
    assert w.alive is True


def test_without_a_limit_no_worker_is_replaced(monkeypatch):
    c = conf(monkeypatch, None)
    w = worker()
    c["post_request"](w, None, {}, None)
    assert w.alive is True


def test_sizes_read_as_systemd_writes_them(monkeypatch):
    size = conf(monkeypatch, None)["size"]
    assert (size("512M"), size("1G"), size("1048576")) == (512 * 1024**2, 1024**3, 1048576)
