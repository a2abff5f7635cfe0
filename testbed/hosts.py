"""A testbed: hosts that are overlays on the cached rootfs, each booted with
systemd as PID 1 by systemd-nspawn in its own network namespace on a private
bridge, reached over SSH as the deploy user; apt through a tinyproxy on the
bridge address, since the hosts have no route out."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testbed import access, machine, rootfs, s3, teardown
from testbed.machine import TestbedError, log, run, url_up, wait_for_port

STATE_ROOT = Path(os.environ.get("TESTBED_STATE_ROOT", "/var/lib/stack-testbed"))
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
# `up --extra N` adds base1..baseN: light hosts with no role, only the base
# (the scaling bench measures how a converge grows with the host count).
EXTRA = {"groups": ["base_servers"], "data": {}}
EXTRA_NAME = re.compile(r"base([1-9][0-9]*)")


def role(host: str) -> dict:
    return TOPOLOGY[host] if host in TOPOLOGY else EXTRA


@dataclass
class Testbed:
    __test__ = False
    name: str = "tb"
    subnet: str = "10.231.0.0/24"
    hosts: tuple[str, ...] = tuple(TOPOLOGY)
    extra: int = 0  # base-only hosts added after `hosts`: base1..baseN
    release: str = rootfs.DEFAULT_RELEASE  # the Debian release every host boots

    def __post_init__(self):
        self._boots: dict[str, subprocess.Popen] = {}
        if not re.fullmatch(r"[a-z][a-z0-9]{0,5}", self.name):
            raise TestbedError("testbed name: 1-6 lowercase letters/digits (it prefixes link names)")
        unknown = set(self.hosts) - set(TOPOLOGY)
        if unknown:
            raise TestbedError(f"unknown testbed hosts: {sorted(unknown)}; known: {list(TOPOLOGY)}")
        room = ipaddress.ip_network(self.subnet).num_addresses - 12 - len(TOPOLOGY)
        if not 0 <= self.extra <= min(room, 200):
            raise TestbedError(f"--extra: 0 to {min(room, 200)} hosts on {self.subnet}")
        self.hosts = tuple(self.hosts) + tuple(f"base{i}" for i in range(1, self.extra + 1))
        if self.release not in rootfs.RELEASES:
            raise TestbedError(f"unknown release {self.release!r}: the testbed boots {', '.join(rootfs.RELEASES)}")

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
        extra = EXTRA_NAME.fullmatch(host)
        index = len(TOPOLOGY) + int(extra[1]) - 1 if extra else list(TOPOLOGY).index(host)
        return str(net.network_address + 11 + index)

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    # -- up ------------------------------------------------------------------
    def up(self) -> dict:
        """Bring the testbed up; a healthy testbed is left as it is."""
        if self.healthy():
            log(f"testbed {self.name} is already up")
            return self.load_state()
        if teardown.leftovers(self):
            log(f"clearing stale state of testbed {self.name}")
            self.down()
        base = rootfs.ensure_base_rootfs(self.release)
        machine.raise_inotify_limit()
        self.state_dir.mkdir(parents=True, mode=0o700)
        key = self.state_dir / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"testbed-{self.name}", "-f", str(key))
        self._bridge_up()
        self._proxy_up()
        known_hosts = []
        for host in self.hosts:
            known_hosts.append(self._host_up(host, base, key.with_suffix(".pub").read_text()))
        (self.state_dir / "known_hosts").write_text("".join(known_hosts))
        access.write_ssh_config(self.state_dir / "ssh_config", {h: self.address(h) for h in self.hosts}, key,
                                self.state_dir / "known_hosts")
        secrets = access.write_secrets(self.state_dir / "secrets.yml")
        endpoint = s3.start(self.state_dir, self.gateway, self.subnet, secrets["s3_access_key_id"],
                            secrets["s3_secret_access_key"])
        state = {
            "name": self.name,
            "subnet": self.subnet,
            "release": self.release,
            "apt_proxy": f"http://{self.gateway}:{PROXY_PORT}",
            "ssh_key": str(key),
            "ssh_config": str(self.state_dir / "ssh_config"),
            "known_hosts": str(self.state_dir / "known_hosts"),
            "secrets_file": str(self.state_dir / "secrets.yml"),
            "s3_endpoint": endpoint,
            "hosts": {
                h: {"address": self.address(h), **role(h)} for h in self.hosts
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
        # Only the deploy user has a key: a deploy logs in as it and uses sudo.
        uid, gid = rootfs.user_ids(root, rootfs.DEPLOY_USER)
        ssh_dir = root / "home" / rootfs.DEPLOY_USER / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(pubkey)
        for path in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, uid, gid)
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
        procs = [d / "cgroup.procs" for d in machine.cgroup(self.link(host))]
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
        """One command on a host, as root: the deploy user's sudo, as a deploy has it."""
        return run("ssh", "-F", str(self.state_dir / "ssh_config"), "-o", "ConnectTimeout=3",
                   "-o", "BatchMode=yes", host, "sudo", "-n", "--", *command, check=check)

    def load_state(self) -> dict:
        if not self.state_file.exists():
            raise TestbedError(
                f"testbed {self.name} is not up (no {self.state_file}); run: python -m testbed up"
            )
        return json.loads(self.state_file.read_text())

    def healthy(self) -> bool:
        if not self.state_file.exists():
            return False
        state = self.load_state()
        if tuple(state["hosts"]) != self.hosts or state["subnet"] != self.subnet \
                or state.get("release") != self.release:
            return False
        if not (url_up(state["apt_proxy"]) and url_up(state.get("s3_endpoint", ""))):
            return False
        return all(self.ssh(h, "true", check=False).returncode == 0 for h in self.hosts)

    # -- down ------------------------------------------------------------------
    def down(self):
        teardown.remove(self)

    def status(self) -> str:
        if not self.state_file.exists():
            left = teardown.leftovers(self)
            return f"testbed {self.name}: down" + (f" (stale: {left})" if left else "")
        state = self.load_state()
        lines = [f"testbed {self.name} (Debian {state.get('release', 'bookworm')}, {state['subnet']}), proxy "
                 + ("up" if url_up(state["apt_proxy"]) else "DOWN")
                 + f", S3 {state['s3_endpoint']} " + ("up" if url_up(state["s3_endpoint"]) else "DOWN")]
        for host, info in state["hosts"].items():
            ok = self.ssh(host, "systemctl", "is-system-running", check=False)
            lines.append(f"  {host:6} {info['address']:15} {','.join(info['groups']):45} "
                         f"{ok.stdout.strip() or 'unreachable'}")
        return "\n".join(lines)
