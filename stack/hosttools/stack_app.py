#!/usr/bin/python3
"""stack-app: Capistrano-style releases of one app on one host.

Installed on app hosts by tasks/app.py; reads /etc/stack/app.json.

    /srv/<app>/releases/<id>/   source, migrations and its own venv
    /srv/<app>/shared/          app.env (0600, the app user's), logs
    /srv/<app>/current       -> releases/<id>
    /srv/<app>/revisions.log    who deployed or rolled back what, and when

    stack-app releases                 installed release ids, oldest first
    stack-app current                  the id current points at
    stack-app install ID ARTIFACT      unpack, build the venv offline, then make it visible
    stack-app migrate ID [--check]     alembic upgrade head with the app's settings
    stack-app activate ID              switch, restart, health-gate; switch back on failure
    stack-app prune                    keep the newest `keep`, never current or previous
    stack-app stale                    "stale" if the running service predates its settings

Standalone on purpose: Python 3 only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

CONFIG = "/etc/stack/app.json"


class Failure(Exception):
    pass


def run(*cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


class App:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.root = cfg["root"]
        self.releases = os.path.join(self.root, "releases")
        self.current = os.path.join(self.root, "current")

    def release_dir(self, rid: str) -> str:
        if not rid or "/" in rid or rid.startswith("."):
            raise Failure(f"bad release id {rid!r}")
        return os.path.join(self.releases, rid)

    def installed(self) -> list[str]:
        """Release directories only: not a half-built one, not an artifact waiting to be installed."""
        return sorted(r for r in os.listdir(self.releases)
                      if not r.endswith(".partial") and os.path.isdir(os.path.join(self.releases, r)))

    def current_id(self) -> str | None:
        try:
            return os.path.basename(os.readlink(self.current))
        except FileNotFoundError:
            return None

    def log(self, action: str, rid: str, previous: str | None):
        who = os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(self.root, "revisions.log"), "a") as f:
            f.write(f"{stamp} {action} {rid} (was {previous or 'none'}) by {who}\n")

    # -- install --------------------------------------------------------------
    def install(self, rid: str, artifact: str):
        final = self.release_dir(rid)
        if os.path.isdir(final):
            print(f"{rid} is already installed")
            return
        # What killed or failed installs left: half-built releases, artifacts of none.
        for entry in os.listdir(self.releases):
            path = os.path.join(self.releases, entry)
            if entry.endswith(".partial"):
                shutil.rmtree(path)
            elif entry.endswith(".tar.gz") and path != artifact:
                os.unlink(path)
        partial = final + ".partial"
        os.makedirs(partial)
        with tarfile.open(artifact) as tar:
            # Python 3.11.2 (Debian 12) has no extraction filters: check by hand.
            for m in tar.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/") or not (m.isfile() or m.isdir()):
                    raise Failure(f"refusing artifact member {m.name!r}")
            tar.extractall(partial)
        venv = os.path.join(partial, "venv")
        run(sys.executable, "-m", "venv", venv)
        # Offline: hosts never reach PyPI, the artifact carries every wheel. The venv
        # is always used as venv/bin/python -m ...: its scripts' shebangs would
        # still name the .partial directory after the rename below.
        run(os.path.join(venv, "bin/python"), "-m", "pip", "install", "--quiet", "--no-index",
            "--find-links", os.path.join(partial, "wheelhouse"), "-r", os.path.join(partial, "requirements.txt"))
        shutil.rmtree(os.path.join(partial, "wheelhouse"))
        os.rename(partial, final)
        os.unlink(artifact)
        print(f"installed {rid}")

    # -- migrate --------------------------------------------------------------------
    def migrate(self, rid: str, check: bool) -> int:
        rdir = self.release_dir(rid)
        env = {**os.environ, **read_env(os.path.join(self.root, "shared/app.env"))}
        alembic = [os.path.join(rdir, "venv/bin/python"), "-m", "alembic", "-c",
                   os.path.join(rdir, "migrations/alembic.ini")]
        if check:
            current = run(*alembic, "current", env=env).split()
            heads = run(*alembic, "heads", env=env).split()
            pending = not current or current[0] != heads[0]
            print("pending" if pending else "up to date")
            return 1 if pending else 0
        out = subprocess.run([*alembic, "upgrade", "head"], env=env, capture_output=True, text=True)
        sys.stdout.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise Failure("alembic upgrade head failed")
        return 0

    # -- activate ---------------------------------------------------------------------
    def switch(self, rid: str):
        """ln -s + mv -T: `current` is never missing, not even for a moment."""
        tmp = self.current + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.join("releases", rid), tmp)
        os.replace(tmp, self.current)

    def restart_and_wait(self) -> tuple[bool, str]:
        """(healthy, why not). A restart that fails is an unhealthy release like any
        other: the caller must still get the chance to switch back."""
        try:
            run("systemctl", "restart", self.cfg["service"])
        except Failure as e:
            return False, str(e)
        deadline = time.monotonic() + self.cfg["health_timeout"]
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.cfg["health_url"], timeout=2) as r:
                    if r.status == 200:
                        return True, "healthy"
            except Exception as e:  # the gate is the answer, whatever the failure was
                last = str(e)
            time.sleep(0.5)
        return False, last

    def activate(self, rid: str):
        self.release_dir(rid)
        if rid not in self.installed():
            raise Failure(f"release {rid} is not installed here; installed: {self.installed()}")
        previous = self.current_id()
        self.switch(rid)
        ok, why = self.restart_and_wait()
        if ok:
            self.log("deploy", rid, previous)
            print(f"{rid} is live and healthy")
            return
        # Health gate failed: put the previous release back before saying so.
        if previous:
            self.switch(previous)
            back, _ = self.restart_and_wait()
            self.log("rollback", previous, rid)
            raise Failure(f"{rid} was not healthy within {self.cfg['health_timeout']}s ({why}); "
                          f"switched back to {previous}" + ("" if back else ", WHICH IS NOT HEALTHY EITHER"))
        raise Failure(f"{rid} was not healthy within {self.cfg['health_timeout']}s ({why}); no previous release")

    # -- stale ----------------------------------------------------------------------------
    def stale(self) -> bool:
        """The service started before its env file or units last changed (or is not
        running): a run that wrote them and then failed left it on old settings."""
        out = run("systemctl", "show", self.cfg["service"], "-p", "ExecMainStartTimestamp", "--timestamp=unix")
        started = out.strip().partition("=@")[2]
        if not started:
            return True
        service = self.cfg["service"]
        inputs = [os.path.join(self.root, "shared/app.env"), f"/etc/systemd/system/{service}.service",
                  f"/etc/systemd/system/{service}.socket"]
        return any(os.stat(p).st_mtime > float(started) for p in inputs if os.path.exists(p))

    # -- prune ---------------------------------------------------------------------------
    def prune(self):
        releases = self.installed()
        keep = set(releases[-self.cfg["keep_releases"]:])
        current = self.current_id()
        keep.add(current)
        # the previous release: the newest one older than current
        older = [r for r in releases if current and r < current]
        if older:
            keep.add(older[-1])
        for rid in releases:
            if rid not in keep:
                shutil.rmtree(self.release_dir(rid))
                print(f"pruned {rid}")


def read_env(path: str) -> dict:
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-app", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=CONFIG)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("releases")
    sub.add_parser("current")
    sp = sub.add_parser("install")
    sp.add_argument("id")
    sp.add_argument("artifact")
    sp = sub.add_parser("migrate")
    sp.add_argument("id")
    sp.add_argument("--check", action="store_true")
    sp = sub.add_parser("activate")
    sp.add_argument("id")
    sub.add_parser("prune")
    sub.add_parser("stale")
    args = p.parse_args(argv)
    with open(args.config) as f:
        app = App(json.load(f))
    try:
        if args.cmd == "releases":
            print("\n".join(app.installed()))
        elif args.cmd == "current":
            print(app.current_id() or "")
        elif args.cmd == "install":
            app.install(args.id, args.artifact)
        elif args.cmd == "migrate":
            return app.migrate(args.id, args.check)
        elif args.cmd == "activate":
            app.activate(args.id)
        elif args.cmd == "prune":
            app.prune()
        elif args.cmd == "stale":
            print("stale" if app.stale() else "fresh")
    except Failure as e:
        print(f"stack-app: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
