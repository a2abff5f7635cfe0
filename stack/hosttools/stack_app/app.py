"""A release tree on this host: install, migrate, activate, prune, and the records."""

from __future__ import annotations

import datetime
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

MIGRATE_ENV = "/etc/stack/app-migrate.env"  # the app's settings, with the migration user (root's only)


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
    # Each script (plan_script.py, head_script.py, record_script.py) runs with python -c
    # in the release's own venv, the app's settings in its environment.
    def alembic(self, rid: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        rdir = self.release_dir(rid)
        # As the migration user (DDL), never the app's (DML only).
        online = self.cfg.get("online", {})
        env = {**os.environ, **read_env(MIGRATE_ENV),
               "ALEMBIC_LOCK_WAIT_TIMEOUT": str(self.cfg.get("migration_lock_wait", 10)),
               **{f"ONLINE_{k.upper()}": str(v) for k, v in online.items()}}
        proc = subprocess.run([os.path.join(rdir, "venv/bin/python"), *args], env=env, capture_output=True,
                              text=True)
        if check and proc.returncode != 0:
            raise Failure(f"{args[1] if args[0] == '-m' else 'the plan'} failed: {proc.stderr.strip()[-2000:]}")
        return proc

    def alembic_ini(self, rid: str) -> str:
        return os.path.join(self.release_dir(rid), "migrations/alembic.ini")

    def plan(self, rid: str, down_to: str | None = None) -> dict:
        """What upgrading to the release's head would run; with ``down_to``, what
        downgrading to that revision would undo (with the release's scripts)."""
        ini = self.alembic_ini(rid)
        out = self.alembic(rid, "-c", script("plan"), ini, *([down_to] if down_to else []))
        return json.loads(out.stdout)

    def head(self, rid: str) -> str:
        """The release's head revision, from its scripts alone."""
        ini = self.alembic_ini(rid)
        return self.alembic(rid, "-c", script("head"), ini).stdout.strip()

    def downgrade(self, rid: str, to: str):
        ini = self.alembic_ini(rid)
        out = self.alembic(rid, "-m", "alembic", "-c", ini, "downgrade", to, check=False)
        sys.stdout.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise Failure(f"alembic downgrade {to} failed")
        now = self.plan(rid)["current"]
        if now != to:
            raise Failure(f"after the downgrade the schema is at {now}, not {to}")
        print(f"downgraded: the schema is at {to}")

    def migrate(self, rid: str, check: bool) -> int:
        if check:
            pending = bool(self.plan(rid)["pending"])
            print("pending" if pending else "up to date")
            return 1 if pending else 0
        ini = self.alembic_ini(rid)
        out = self.alembic(rid, "-m", "alembic", "-c", ini, "upgrade", "head", check=False)
        sys.stdout.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise Failure("alembic upgrade head failed")
        self.alembic(rid, "-m", "alembic", "-c", ini, "current", "--check-heads")  # verified, or it fails
        print(f"migrated: {self.plan(rid)['current']} is the head")
        return 0

    # -- records ----------------------------------------------------------------------
    def record(self, action: str, release: str, success: bool, duration: float, detail: str,
               from_revision: str | None = None, to_revision: str | None = None, audit_only: bool = False,
               who: str | None = None):
        """A deployment_record row and an audit_log row (or the audit_log row only), with
        the app's settings and driver."""
        who = who or os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
        if audit_only:  # the row says how it ended: audit_log has no column for it
            detail = f"{detail}; {'succeeded' if success else 'failed'} in {duration:.1f}s"
        row = {"action": action, "release": release, "from": from_revision, "to": to_revision, "success": success,
               "duration": duration, "who": who, "detail": detail, "audit_only": audit_only}
        self.alembic(self.current_id(), "-c", script("record"), json.dumps(row))
        print(f"recorded: {action} {release} by {who} ({'success' if success else 'failure'}, {duration:.1f}s)")

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

    def previous_id(self) -> str | None:
        """The release the current one replaced when it was last deployed (revisions.log);
        a health gate's switch-back is not a deploy."""
        current, previous = self.current_id(), None
        try:
            with open(os.path.join(self.root, "revisions.log")) as f:
                for line in f:
                    m = re.match(r"\S+ deploy (\S+) \(was (\S+)\)", line)
                    if m and m.group(1) == current:
                        previous = m.group(2)
        except FileNotFoundError:
            return None
        return None if previous in (None, "none") else previous

    def activate(self, rid: str, action: str = "deploy"):
        self.release_dir(rid)
        if rid not in self.installed():
            raise Failure(f"release {rid} is not installed here; installed: {self.installed()}")
        previous = self.current_id()
        self.switch(rid)
        ok, why = self.restart_and_wait()
        if ok:
            self.log(action, rid, previous)
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
                  f"/etc/systemd/system/{service}.socket",
                  f"/etc/systemd/system/{service}.service.d/50-stack-sandbox.conf", "/etc/ssl/stack/ca.crt"]
        return any(os.stat(p).st_mtime > float(started) for p in inputs if os.path.exists(p))

    # -- prune ---------------------------------------------------------------------------
    def prune(self):
        keep = self.cfg["keep_releases"]
        for rid in to_prune(self.installed(), self.current_id(), self.previous_id(), keep):
            shutil.rmtree(self.release_dir(rid))
            print(f"pruned {rid}")


def to_prune(releases: list[str], current: str | None, previous: str | None, keep: int) -> list[str]:
    """The releases prune removes: all but the newest ``keep``, the current one, the one a
    rollback goes back to (however old its id), and the newest id older than current. The
    controller asks the same before it runs prune (tasks/app.py): a no-op run prunes nothing."""
    kept = set(releases[-keep:]) | {current, previous}
    older = [r for r in releases if current and r < current]
    if older:
        kept.add(older[-1])
    return [r for r in releases if r not in kept]


def read_env(path: str) -> dict:
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def script(name: str) -> str:
    """The source of this package's ``<name>_script.py``: run by a release's own Python,
    it imports that release's alembic and driver, never this program's."""
    return pkgutil.get_data(__package__, f"{name}_script.py").decode()
