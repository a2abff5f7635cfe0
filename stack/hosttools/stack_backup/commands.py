"""The external commands the flows run: pipelines, single commands, metrics points."""

from __future__ import annotations

import os
import subprocess
import sys

from .store import Failure


def report(cfg: dict, command: list[str], **pairs):
    """A point, through stack-influx (``command``: its write and measurement) and its
    write-only writer; a failure also reaches the alert webhook. Without
    monitoring, or with it down, the flow goes on: its exit status says the same."""
    if not cfg.get("metrics_config"):
        return
    pairs = {"environment": cfg["environment"], "host": cfg["host"], **pairs}
    proc = subprocess.run([command[0], "--config", cfg["metrics_config"], *command[1:],
                           *(f"{k}={v}" for k, v in pairs.items())], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"stack-backup: {command[-1]} point not written: {proc.stderr.strip()}", file=sys.stderr)


def pipeline(*commands: list[str], stdin_path: str | None = None, stdout_path: str | None = None,
             env: dict | None = None) -> None:
    """commands[0] < stdin_path | commands[1] | ... > stdout_path (0600); any stage
    failing fails it all."""
    procs = []
    prev = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if stdout_path else subprocess.DEVNULL
    try:
        for i, cmd in enumerate(commands):
            last = i == len(commands) - 1
            proc = subprocess.Popen(cmd, stdin=prev, stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env)
            if prev is not subprocess.DEVNULL:
                prev.close()
            prev = proc.stdout
            procs.append(proc)
    finally:
        if stdout_path:
            os.close(out)
    errors = []
    for cmd, proc in zip(commands, procs):
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            errors.append(f"{cmd[0]} exited {proc.returncode}: {err.strip()[-1000:]}")
    if errors:
        raise Failure("; ".join(errors))


def sh(*cmd: str):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-1000:]}")
