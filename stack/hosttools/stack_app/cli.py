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
                     [--audit-only] [--who W]
                                       deployment_record and audit_log rows (or the audit_log row only)
    stack-app prune                    keep the newest `keep`, never current or previous
    stack-app stale                    "stale" if the running service predates its settings
    stack-app cancel                   stop the online schema change running here: its table stays as it was

Standalone on purpose: Python 3 only (plan, head and record run in a release's own venv).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import signal
import sys

from .app import App, Failure

CONFIG = "/etc/stack/app.json"
SCHEMA_LOCK = "/run/lock/stack-app-schema"  # held by a migration (exclusive) and a plan (shared)


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
    sp.add_argument("action", choices=["migrate", "rollback", "deploy", "backup", "restore", "drill", "maintenance"])
    sp.add_argument("release", help="the release, or what the flow was pointed at")
    sp.add_argument("--audit-only", action="store_true", help="an audit_log row only (a flow that is no deployment)")
    sp.add_argument("--who", help="who ran the flow (default: the sudo user)")
    sp.add_argument("--success", type=int, choices=[0, 1], required=True)
    sp.add_argument("--duration", type=float, required=True)
    sp.add_argument("--from", dest="from_revision")
    sp.add_argument("--to", dest="to_revision")
    sp.add_argument("--detail", default="")
    sub.add_parser("prune")
    sub.add_parser("stale")
    sub.add_parser("cancel")
    args = p.parse_args(argv)
    with open(args.config) as f:
        app = App(json.load(f))
    # A migration and what reads the schema's state never overlap: a plan asked while a
    # migration left behind by a dead controller still runs waits for its end.
    exclusive = {"migrate": not getattr(args, "check", False), "downgrade": True, "plan": False}.get(args.cmd)
    try:
        with contextlib.nullcontext() if exclusive is None else schema_lock(exclusive):
            return command(app, args)
    except Failure as e:
        print(f"stack-app: {e}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def schema_lock(exclusive: bool):
    fd = os.open(SCHEMA_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def command(app: App, args) -> int:
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
                   args.from_revision, args.to_revision, audit_only=args.audit_only, who=args.who)
    elif args.cmd == "prune":
        app.prune()
    elif args.cmd == "stale":
        print("stale" if app.stale() else "fresh")
    elif args.cmd == "cancel":
        return cancel()
    return 0


def cancel() -> int:
    """SIGTERM to each pt-online-schema-change running here (migrations/online.py's):
    it drops its triggers, then its copy, and exits; the migration then fails with its
    table as it was. Exit 1 if none was running."""
    stopped = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if any(os.path.basename(a) == b"pt-online-schema-change" for a in argv[:3]):
            os.kill(int(pid), signal.SIGTERM)
            stopped.append(pid)
    print(f"cancelled the online change (pid {', '.join(stopped)})" if stopped else "no online change is running")
    return 0 if stopped else 1
