"""Local testbed: disposable Debian 12 hosts booted by systemd-nspawn.

Each host is an overlay on a cached debootstrap rootfs, boots systemd as PID 1,
lives in its own network namespace on a private bridge, and is reached over SSH
with a key generated here. The hosts have no route out: apt goes through a
tinyproxy listening on the bridge address.

    python -m stack.testbed up|down|status|ssh HOST

Everything a testbed makes is named after it (``--name``, default ``tb``): the
bridge ``<name>-br``, one netns and veth ``<name>-<host>`` per host, and one
state directory holding addresses, key, ssh_config, known_hosts and secrets.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import secrets as _random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# cgroup v1 (hybrid): nspawn finds its cgroup in the unified hierarchy and uses
# the same path in name=systemd. Both are absent on a pure cgroup v2 machine.
CGROUP_V1 = Path("/sys/fs/cgroup/systemd")
CGROUP_HIERARCHIES = (CGROUP_V1, Path("/sys/fs/cgroup/unified"))
STATE_ROOT = Path(os.environ.get("TESTBED_STATE_ROOT", "/var/lib/stack-testbed"))
CACHE_DIR = Path(os.environ.get("TESTBED_CACHE_DIR", "/var/cache/stack-testbed"))
SUITE = "bookworm"
# Bump the suffix when the package list changes, so old caches are not reused.
BASE_PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,sudo,ca-certificates"
BASE_NAME = f"{SUITE}-base-v1"
PROXY_PORT = 18888  # not 8888: a distribution tinyproxy may already hold that
BOOT_TIMEOUT = 90  # seconds for a host to answer over SSH after it is started

# The default topology: every multi-host path (primary/replica, two app hosts
# behind one nginx) with as few hosts as possible. Host data is what the
# inventory needs to know about the host beyond its groups.
TOPOLOGY: dict[str, dict] = {
    "db1": {"groups": ["db_servers"], "data": {"mysql_role": "primary"}},
    "db2": {"groups": ["db_servers"], "data": {"mysql_role": "replica"}},
    "app1": {"groups": ["app_servers"], "data": {}},
    "app2": {"groups": ["app_servers"], "data": {}},
    "web1": {"groups": ["web_servers", "cache_servers", "monitoring_servers"], "data": {}},
}


class TestbedError(RuntimeError):
    __test__ = False  # not a test class, despite the name


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if check and proc.returncode != 0:
        raise TestbedError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the controller itself uses, read from its apt config.

    The repository never names a mirror: whatever this machine is set up with is
    what the test hosts use too.
    """
    entries: list[tuple[str, list[str]]] = []  # (URI, suites) in the order apt reads them
    legacy = sources_dir / "sources.list"
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                entries.append((m.group(1), [m.group(2)]))
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, _, value = line.partition(":")
                if not line.startswith("#") and value:
                    fields[key.strip()] = value.strip()
            if "deb" in fields.get("Types", "").split() and "URIs" in fields:
                entries.append((fields["URIs"].split()[0], fields.get("Suites", "").split()))
    for uri, suites in entries:
        if SUITE in suites:  # the main archive; the security archive has only SUITE-security
            return uri
    raise TestbedError(f"no Debian mirror found in {sources_dir}/sources.list(.d)")


@dataclass
class Testbed:
    __test__ = False
    name: str = "tb"
    subnet: str = "10.231.0.0/24"
    hosts: tuple[str, ...] = tuple(TOPOLOGY)

    def __post_init__(self):
        self._boots: dict[str, subprocess.Popen] = {}
        if not re.fullmatch(r"[a-z][a-z0-9]{0,5}", self.name):
            raise TestbedError("testbed name: 1-6 lowercase letters/digits (it prefixes link names)")
        unknown = set(self.hosts) - set(TOPOLOGY)
        if unknown:
            raise TestbedError(f"unknown testbed hosts: {sorted(unknown)}; known: {list(TOPOLOGY)}")

    # -- names and paths -------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    def link(self, host: str) -> str:
        return f"{self.name}-{host}"

    def address(self, host: str) -> str:
        net = ipaddress.ip_network(self.subnet)
        return str(net.network_address + 11 + list(TOPOLOGY).index(host))

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    # -- up ------------------------------------------------------------------
    def up(self) -> dict:
        """Bring the testbed up; a healthy testbed is left as it is."""
        if self.healthy():
            log(f"testbed {self.name} is already up")
            return self.load_state()
        if self.leftovers():
            log(f"clearing stale state of testbed {self.name}")
            self.down()
        base = ensure_base_rootfs()
        raise_inotify_limit()
        self.state_dir.mkdir(parents=True, mode=0o700)
        key = self.state_dir / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"testbed-{self.name}", "-f", str(key))
        self._bridge_up()
        self._proxy_up()
        known_hosts = []
        for host in self.hosts:
            known_hosts.append(self._host_up(host, base, key.with_suffix(".pub").read_text()))
        (self.state_dir / "known_hosts").write_text("".join(known_hosts))
        self._write_ssh_config(key)
        write_secrets(self.state_dir / "secrets.yml")
        state = {
            "name": self.name,
            "subnet": self.subnet,
            "apt_proxy": f"http://{self.gateway}:{PROXY_PORT}",
            "ssh_key": str(key),
            "ssh_config": str(self.state_dir / "ssh_config"),
            "known_hosts": str(self.state_dir / "known_hosts"),
            "secrets_file": str(self.state_dir / "secrets.yml"),
            "hosts": {
                h: {"address": self.address(h), **TOPOLOGY[h]} for h in self.hosts
            },
        }
        self.state_file.write_text(json.dumps(state, indent=2))
        for host in self.hosts:
            self._wait_for_ssh(host)
        log(f"testbed {self.name} is up: {', '.join(self.hosts)}")
        return state

    def _bridge_up(self):
        run("ip", "link", "add", self.bridge, "type", "bridge")
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        run("ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")

    def _proxy_up(self):
        conf = self.state_dir / "tinyproxy.conf"
        conf.write_text(
            f"User nobody\nGroup nogroup\nPort {PROXY_PORT}\nListen {self.gateway}\n"
            f"Allow {self.subnet}\nTimeout 600\nMaxClients 50\nLogLevel Warning\n"
        )
        log_file = open(self.state_dir / "tinyproxy.log", "w")
        subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=log_file, stderr=log_file,
                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.gateway, PROXY_PORT, 10, "tinyproxy")

    def _host_up(self, host: str, base: Path, pubkey: str) -> str:
        hdir = self.host_dir(host)
        root, upper, work = hdir / "root", hdir / "upper", hdir / "work"
        for d in (root, upper, work):
            d.mkdir(parents=True)
        run("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={base},upperdir={upper},workdir={work}", str(root))
        (root / "etc/hostname").write_text(host + "\n")
        (root / "etc/hosts").write_text(
            "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
            + "".join(f"{self.address(h)} {h}\n" for h in self.hosts)
        )
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(pubkey)
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        # Host keys are made per host, so known_hosts can be strict.
        run("ssh-keygen", "-A", "-f", str(root))
        host_pub = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]

        ns, link = self.link(host), self.link(host)
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "link", "set", link, "master", self.bridge, "up")
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        run("ip", "-n", ns, "addr", "add", f"{self.address(host)}/{prefix}", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "up")

        log_file = open(hdir / "console.log", "w")
        procs = [d / "cgroup.procs" for d in self.cgroup(host)]
        self._boots[host] = subprocess.Popen(
            ["systemd-nspawn", "-D", str(root), "--boot", "-M", host,
             f"--network-namespace-path=/run/netns/{ns}", "--register=no", "--keep-unit",
             # nftables inside the host needs it; it only reaches the host's own netns.
             "--capability=CAP_NET_ADMIN",
             "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only"],
            stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=lambda: [p.write_text(str(os.getpid())) for p in procs],
        )
        return f"{self.address(host)} {' '.join(host_pub)}\n{host} {' '.join(host_pub)}\n"

    def _write_ssh_config(self, key: Path):
        lines = []
        for host in self.hosts:
            lines += [
                f"Host {host} {self.address(host)}",
                f"  HostName {self.address(host)}",
                "  User root",
                f"  IdentityFile {key}",
                "  IdentitiesOnly yes",
                "  StrictHostKeyChecking yes",
                f"  UserKnownHostsFile {self.state_dir / 'known_hosts'}",
                "",
            ]
        (self.state_dir / "ssh_config").write_text("\n".join(lines))

    def _wait_for_ssh(self, host: str):
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline and self._boots[host].poll() is None:
            if self.ssh(host, "true", check=False).returncode == 0:
                return
            time.sleep(1)
        console = (self.host_dir(host) / "console.log").read_text()[-2000:]
        why = "exited" if self._boots[host].poll() is not None else f"did not answer over SSH in {BOOT_TIMEOUT}s"
        raise TestbedError(f"{host} {why}; console:\n{console}")

    # -- use -----------------------------------------------------------------
    def ssh(self, host: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ssh", "-F", str(self.state_dir / "ssh_config"), "-o", "ConnectTimeout=3",
                   "-o", "BatchMode=yes", host, *command, check=check)

    def load_state(self) -> dict:
        if not self.state_file.exists():
            raise TestbedError(
                f"testbed {self.name} is not up (no {self.state_file}); run: python -m stack.testbed up"
            )
        return json.loads(self.state_file.read_text())

    def healthy(self) -> bool:
        if not self.state_file.exists():
            return False
        state = self.load_state()
        if tuple(state["hosts"]) != self.hosts or state["subnet"] != self.subnet:
            return False
        if not port_open(self.gateway, PROXY_PORT):
            return False
        return all(self.ssh(h, "true", check=False).returncode == 0 for h in self.hosts)

    # -- down ------------------------------------------------------------------
    def netns_inodes(self) -> set[int]:
        return {os.stat(f"/run/netns/{ns}").st_ino for ns in self.namespaces()}

    def processes(self) -> list[int]:
        """Every process this testbed started: nspawn and tinyproxy (their command
        lines name the state dir) and everything inside the hosts (they live in the
        testbed's network namespaces; a host's systemd reports its root as "/")."""
        marker = str(self.state_dir) + "/"
        inodes = self.netns_inodes()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                in_netns = os.stat(entry / "ns/net").st_ino in inodes
            except OSError:
                continue
            if marker in cmdline or in_netns:
                found.append(int(entry.name))
        return found

    def mounts(self) -> list[str]:
        marker = str(self.state_dir) + "/"
        points = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(marker):
                points.append(point)
        return points

    def links(self) -> list[str]:
        out = run("ip", "-o", "link", "show").stdout
        names = [re.split(r"[:@]", line.split(": ", 1)[1])[0] for line in out.splitlines()]
        return [n for n in names if n.startswith(self.name + "-")]

    def namespaces(self) -> list[str]:
        out = run("ip", "netns", "list").stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(self.name + "-")]

    def cgroup(self, host: str) -> list[Path]:
        """cgroup v1: the host's own cgroup. Unregistered nspawn puts its
        container's cgroups under its own, so hosts started from one cgroup
        would share them: two hosts restarting the same unit at once then race
        for one directory (systemd's 219/CGROUP, or a failed restart)."""
        paths = [h / "stack-testbed" / f"{self.name}-{host}" for h in CGROUP_HIERARCHIES if h.exists()]
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
        return paths

    def cgroups(self) -> list[str]:
        return [str(p) for h in CGROUP_HIERARCHIES for p in (h / "stack-testbed").glob(f"{self.name}-*")]

    def leftovers(self) -> dict[str, list]:
        found = {
            "cgroups": self.cgroups(),
            "processes": self.processes(),
            "mounts": self.mounts(),
            "links": self.links(),
            "namespaces": self.namespaces(),
            "state_dir": [str(self.state_dir)] if self.state_dir.exists() else [],
        }
        return {k: v for k, v in found.items() if v}

    def down(self):
        # The hosts' PID 1 dies with SIGKILL from here, and takes its namespace with it.
        for _ in range(20):
            pids = self.processes()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.25)
        for point in sorted(self.mounts(), key=len, reverse=True):
            run("umount", point, check=False)
        for ns in self.namespaces():
            run("ip", "netns", "delete", ns)
        for link in self.links():
            run("ip", "link", "delete", link, check=False)
        for top in self.cgroups():  # emptied by the kill above; innermost first
            for d in sorted((p for p in Path(top).rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                            reverse=True) + [Path(top)]:
                d.rmdir()
        left = self.leftovers()
        left.pop("state_dir", None)
        if left:
            raise TestbedError(f"testbed {self.name}: could not remove {left}")
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        log(f"testbed {self.name} is down")

    def status(self) -> str:
        if not self.state_file.exists():
            left = self.leftovers()
            return f"testbed {self.name}: down" + (f" (stale: {left})" if left else "")
        lines = [f"testbed {self.name} ({self.subnet}), proxy "
                 + ("up" if port_open(self.gateway, PROXY_PORT) else "DOWN")]
        for host, info in self.load_state()["hosts"].items():
            ok = self.ssh(host, "systemctl", "is-system-running", check=False)
            lines.append(f"  {host:6} {info['address']:15} {','.join(info['groups']):45} "
                         f"{ok.stdout.strip() or 'unreachable'}")
        return "\n".join(lines)


def inventory_group(group: str) -> list[tuple[str, dict]]:
    """pyinfra inventory entries for one group of the testbed named by
    TESTBED_NAME (default ``tb``), read from its state file."""
    state = Testbed(name=os.environ.get("TESTBED_NAME", "tb"), hosts=()).load_state()
    return [
        (name, {
            "ssh_hostname": info["address"],
            "ssh_user": "root",
            "ssh_key": state["ssh_key"],
            "ssh_known_hosts_file": state["known_hosts"],
            "ssh_strict_host_key_checking": "yes",
            "private_address": info["address"],
            "base_apt_proxy": state["apt_proxy"],
            "secrets_file": state["secrets_file"],
            **info["data"],
        })
        for name, info in state["hosts"].items()
        if group in info["groups"]
    ]


def ensure_base_rootfs() -> Path:
    """The cached debootstrap rootfs every host overlays; built once."""
    base = CACHE_DIR / BASE_NAME
    if base.exists():
        return base
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = CACHE_DIR / (BASE_NAME + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # a killed build leaves this behind
    mirror = apt_mirror()
    log(f"building the base rootfs with debootstrap from {mirror} (about a minute, cached)")
    run("debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(partial), mirror)
    # Per-host identity is made at boot time, never shared through the cache.
    for key in (partial / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (partial / "etc/machine-id").write_text("")
    partial.rename(base)
    return base


# Every secret a deploy can need; the testbed makes each one up.
def write_secrets(path: Path):
    from stack.secrets import SECRETS

    # No alert endpoint here: the alert_* URLs are left out (tests that need
    # one set it in the environment).
    values = {name: _random.token_urlsafe(24) for name in SECRETS if not name.startswith("alert_")}
    # A real age key pair: backups made on the testbed can be decrypted with it.
    out = run("age-keygen", "-o", str(path.parent / "backup_age_identity.txt")).stderr
    values["backup_age_recipient"] = out.split("Public key: ")[1].strip()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))


def raise_inotify_limit(wanted: int = 1024):
    """Each booted host's systemd takes inotify instances from the machine-wide
    per-user budget (default 128, enough for about five hosts)."""
    knob = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(knob.read_text()) < wanted:
        log(f"raising fs.inotify.max_user_instances to {wanted} for the hosts' systemd")
        knob.write_text(str(wanted))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TestbedError(f"{what} is not listening on {host}:{port} after {timeout}s")
        time.sleep(0.2)


def log(msg: str):
    print(f"[testbed] {msg}", file=sys.stderr, flush=True)


def from_args(args) -> Testbed:
    hosts = tuple(args.hosts.split(",")) if args.hosts else tuple(TOPOLOGY)
    return Testbed(name=args.name, subnet=args.subnet, hosts=hosts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.testbed", description=__doc__.split("\n")[0])
    p.add_argument("--name", default=os.environ.get("TESTBED_NAME", "tb"))
    p.add_argument("--subnet", default=os.environ.get("TESTBED_SUBNET", "10.231.0.0/24"))
    p.add_argument("--hosts", default=None, help=f"comma-separated subset of {','.join(TOPOLOGY)}")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    ssh = sub.add_parser("ssh")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("the testbed needs root (network namespaces, mounts, systemd-nspawn)", file=sys.stderr)
        return 2
    tb = from_args(args)
    try:
        if args.cmd == "up":
            tb.up()
        elif args.cmd == "down":
            tb.down()
        elif args.cmd == "status":
            print(tb.status())
        elif args.cmd == "ssh":
            os.execvp("ssh", ["ssh", "-F", str(tb.state_dir / "ssh_config"), args.host, *args.command])
    except TestbedError as e:
        print(f"testbed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
