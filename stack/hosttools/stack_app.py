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
    stack-app plan ID                  pending revisions (and what they declare), their SQL, the schema's hash
    stack-app plan ID --down-to REV    what downgrading to REV would undo (ID's scripts), newest first
    stack-app head ID                  the head revision of ID's migrations
    stack-app migrate ID [--check]     alembic upgrade head (lock-wait timeout), then --check-heads
    stack-app downgrade ID REV         alembic downgrade REV with ID's scripts, then checked
    stack-app activate ID [--action A] switch, restart, health-gate; switch back on failure
    stack-app previous                 the release that ran before the current one (revisions.log)
    stack-app status                   current, previous, installed, stale and the python, as JSON (one round trip)
    stack-app record ACTION RELEASE --success 0|1 --duration S [--from R --to R --detail D]
                                       deployment_record and audit_log rows
    stack-app prune                    keep the newest `keep`, never current or previous
    stack-app stale                    "stale" if the running service predates its settings

Standalone on purpose: Python 3 only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request

CONFIG = "/etc/stack/app.json"
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
    # Run by the release's own Python (its alembic and driver), with the app's settings.
    # Prints the plan as JSON: current and head revisions, each pending revision with
    # what it declares, their offline SQL, and a fingerprint of the schema as it is.
    PLAN = """
import hashlib, io, json, os, sys
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from urllib.parse import quote_plus
e, ini = os.environ, sys.argv[1]
url = (f"mysql+pymysql://{quote_plus(e['DATABASE_USER'])}:{quote_plus(e['DATABASE_PASSWORD'])}"
       f"@{e['DATABASE_HOST']}:{e['DATABASE_PORT']}/{e['DATABASE_NAME']}")
with create_engine(url, connect_args={"connect_timeout": 5, "ssl_ca": e["TLS_CA"],
                                      "ssl_verify_cert": True, "ssl_verify_identity": True}).connect() as c:
    current = MigrationContext.configure(c).get_current_revision()
    rows = c.execute(text("SELECT table_name, column_name, column_type, is_nullable, column_default "
                          "FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY 1, 2")).all()
    rows += c.execute(text("SELECT table_name, index_name, seq_in_index, column_name, non_unique "
                           "FROM information_schema.statistics WHERE table_schema = DATABASE() "
                           "ORDER BY 1, 2, 3")).all()
script = ScriptDirectory.from_config(Config(ini))
head = script.get_current_head()
to = sys.argv[2] if len(sys.argv) > 2 else None  # a downgrade's target: what it undoes, newest first
sql = io.StringIO()
if to:
    pending = list(script.iterate_revisions(current, to)) if current != to else []
    pending = [r for r in pending if r.revision != to]
    if pending:
        command.downgrade(Config(ini, output_buffer=sql), f"{current}:{to}", sql=True)
else:
    pending = list(reversed(list(script.iterate_revisions(head, current)))) if head != current else []
    if pending:
        command.upgrade(Config(ini, output_buffer=sql), f"{current}:head" if current else "head", sql=True)
print(json.dumps({"current": current, "head": head, "sql": sql.getvalue(),
                  "schema": hashlib.sha256(repr(rows).encode()).hexdigest()[:16],
                  "pending": [{"revision": r.revision, "doc": r.doc, "breaking": r.module.breaking,
                               "destructive": r.module.destructive, "intended": sorted(r.module.intended)}
                              for r in pending]}))
"""

    def alembic(self, rid: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        rdir = self.release_dir(rid)
        # As the migration user (DDL), never the app's (DML only).
        env = {**os.environ, **read_env(MIGRATE_ENV),
               "ALEMBIC_LOCK_WAIT_TIMEOUT": str(self.cfg.get("migration_lock_wait", 10))}
        proc = subprocess.run([os.path.join(rdir, "venv/bin/python"), *args], env=env, capture_output=True,
                              text=True)
        if check and proc.returncode != 0:
            raise Failure(f"{args[1] if args[0] == '-m' else 'the plan'} failed: {proc.stderr.strip()[-2000:]}")
        return proc

    def plan(self, rid: str, down_to: str | None = None) -> dict:
        """What upgrading to the release's head would run; with ``down_to``, what
        downgrading to that revision would undo (with the release's scripts)."""
        out = self.alembic(rid, "-c", self.PLAN, os.path.join(self.release_dir(rid), "migrations/alembic.ini"),
                           *([down_to] if down_to else []))
        return json.loads(out.stdout)

    def head(self, rid: str) -> str:
        """The release's head revision, from its scripts alone."""
        return self.alembic(rid, "-c", "import sys; from alembic.config import Config; from alembic.script import "
                                       "ScriptDirectory; print(ScriptDirectory.from_config(Config(sys.argv[1]))"
                                       ".get_current_head())",
                            os.path.join(self.release_dir(rid), "migrations/alembic.ini")).stdout.strip()

    def downgrade(self, rid: str, to: str):
        ini = os.path.join(self.release_dir(rid), "migrations/alembic.ini")
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
        ini = os.path.join(self.release_dir(rid), "migrations/alembic.ini")
        out = self.alembic(rid, "-m", "alembic", "-c", ini, "upgrade", "head", check=False)
        sys.stdout.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise Failure("alembic upgrade head failed")
        self.alembic(rid, "-m", "alembic", "-c", ini, "current", "--check-heads")  # verified, or it fails
        print(f"migrated: {self.plan(rid)['current']} is the head")
        return 0

    # -- records ----------------------------------------------------------------------
    RECORD = ("import json, os, sys, pymysql; e = os.environ; r = json.loads(sys.argv[1]); "
              "c = pymysql.connect(host=e['DATABASE_HOST'], port=int(e['DATABASE_PORT']), user=e['DATABASE_USER'], "
              "password=e['DATABASE_PASSWORD'], database=e['DATABASE_NAME'], connect_timeout=5, "
              "ssl_ca=e['TLS_CA'], ssl_verify_cert=True, ssl_verify_identity=True); cur = c.cursor(); "
              "cur.execute('INSERT INTO deployment_record (action, release_id, from_revision, to_revision, success, "
              "duration_s) VALUES (%s, %s, %s, %s, %s, %s)', (r['action'], r['release'], r['from'], r['to'], "
              "r['success'], r['duration'])); "
              "cur.execute('INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)', "
              "(r['who'], r['action'], r['release'], r['detail'])); c.commit()")

    def record(self, action: str, release: str, success: bool, duration: float, detail: str,
               from_revision: str | None = None, to_revision: str | None = None):
        """A deployment_record row and an audit_log row, with the app's settings and driver."""
        who = os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
        row = {"action": action, "release": release, "from": from_revision, "to": to_revision, "success": success,
               "duration": duration, "who": who, "detail": detail}
        self.alembic(self.current_id(), "-c", self.RECORD, json.dumps(row))
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
        releases = self.installed()
        keep = set(releases[-self.cfg["keep_releases"]:])
        current = self.current_id()
        keep.add(current)
        keep.add(self.previous_id())  # what a rollback goes back to, however old its id
        older = [r for r in releases if current and r < current]  # and the newest id older than current
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
    sp.add_argument("--action", choices=["deploy", "rollback"], default="deploy", help="as revisions.log says it")
    sub.add_parser("previous")
    sub.add_parser("status")
    sp = sub.add_parser("plan")
    sp.add_argument("id")
    sp.add_argument("--down-to", help="what downgrading to this revision would undo, instead")
    sp = sub.add_parser("head")
    sp.add_argument("id")
    sp = sub.add_parser("downgrade")
    sp.add_argument("id", help="a release whose scripts know the current revision (the one running)")
    sp.add_argument("to")
    sp = sub.add_parser("record")
    sp.add_argument("action", choices=["migrate", "rollback"])
    sp.add_argument("release")
    sp.add_argument("--success", type=int, choices=[0, 1], required=True)
    sp.add_argument("--duration", type=float, required=True)
    sp.add_argument("--from", dest="from_revision")
    sp.add_argument("--to", dest="to_revision")
    sp.add_argument("--detail", default="")
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
            app.activate(args.id, args.action)
        elif args.cmd == "previous":
            print(app.previous_id() or "")
        elif args.cmd == "status":
            print(json.dumps({"current": app.current_id() or "", "previous": app.previous_id() or "",
                              "installed": app.installed(), "stale": app.stale(),
                              # what the releases' venvs are built with (this interpreter): wheels must match it
                              "python": f"{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()} "
                                        f"{platform.libc_ver()[1]}"}))
        elif args.cmd == "plan":
            print(json.dumps(app.plan(args.id, args.down_to)))
        elif args.cmd == "head":
            print(app.head(args.id))
        elif args.cmd == "downgrade":
            app.downgrade(args.id, args.to)
        elif args.cmd == "record":
            app.record(args.action, args.release, bool(args.success), args.duration, args.detail,
                       args.from_revision, args.to_revision)
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
