"""Every host: apt (and its proxy), base packages, time, sshd hardening, firewall."""


from pyinfra import host, inventory, logger
from pyinfra.facts.apt import AptSources
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from stack import packages, services
from stack.configs import checked_template, directories, file, read, render
from stack.hostfacts import container, distribution, passwd

virt = container()

# -- apt ----------------------------------------------------------------------------
if host.data.base_apt_proxy:
    file(name="apt proxy", dest="/etc/apt/apt.conf.d/01proxy",
         content=render("templates/base/apt-proxy.conf.j2", proxy=host.data.base_apt_proxy))
else:
    files.file(name="No apt proxy", path="/etc/apt/apt.conf.d/01proxy", present=False)

# -- patches: the distribution's security and updates suites, applied unattended --------
# From the host's own sources (its mirror), never a mirror named here. Reboots stay with ops.
missing_suites = packages.update_suites(host.get_fact(AptSources),
                                        distribution()["release_meta"].get("VERSION_CODENAME", ""))
suites = file(name="Security and updates suites", content=packages.sources_list(missing_suites),
              dest="/etc/apt/sources.list.d/stack-updates.list", _if=lambda: bool(missing_suites))
apt.update(name="Package lists with the new suites", _if=suites.did_change)
# One apt run for all of the base (each costs 10-20 s on a fresh host), from every suite
# (a host patched already holds -security versions the release's own packages conflict
# with): the data's packages, unattended upgrades, the hardening tools lynis asks for.
packages.present("Base packages", [*host.data.base_packages, "unattended-upgrades", "libpam-tmpdir",
                                   "libpam-passwdqc", "debsums", "apt-show-versions", "apt-listchanges"])
file(name="Unattended upgrades daily", content=render("templates/base/auto-upgrades.j2"),
     dest="/etc/apt/apt.conf.d/20auto-upgrades")
# A host that just gained the security suite gets its pending security updates now, not tonight.


def security_updates_pending() -> bool:
    """apt's simulation lists an upgrade from a -security suite (asked when the run gets
    here: unattended-upgrade takes 15-20 s even when there is nothing to do)."""
    count = host.get_fact(Command, command="apt-get -s upgrade 2>/dev/null | grep -c '^Inst .*-security' || true")
    return count not in (None, "0")


server.shell(name="Pending security updates applied", commands=["unattended-upgrade"],
             _if=lambda: suites.did_change() and security_updates_pending())

# -- hardening a scanner (lynis) asks for; each harmless on a server -------------------
# Local passwords (logins here are by key; sudo may use one): more hashing rounds, and a
# day between changes. No maximum age: an expired password would lock out key logins too.
files.line(name="Password hashing rounds", path="/etc/login.defs", line=r"^#?\s*SHA_CRYPT_MIN_ROUNDS\b.*",
           replace="SHA_CRYPT_MIN_ROUNDS 100000")
files.line(name="Minimum password age", path="/etc/login.defs", line=r"^PASS_MIN_DAYS\b.*", replace="PASS_MIN_DAYS 1")
files.directory(name="modprobe.d", path="/etc/modprobe.d", mode="0755")
file(name="Unused kernel modules blocked", content=read("files/base/modprobe-blocklist.conf"),
     dest="/etc/modprobe.d/stack-blocklist.conf")
file(name="No core dumps", content=read("files/base/no-core-dumps.conf"),
     dest="/etc/security/limits.d/stack-no-core-dumps.conf")
for banner in ("/etc/issue", "/etc/issue.net"):
    file(name=f"Login banner {banner}", content=render("templates/base/issue.j2", banner=host.data.base_login_banner),
         dest=banner)
# root's only: what runs as root, and when
directories(*[(cron_dir, "0700", "root", "root") for cron_dir in
              ("/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly")],
            name="cron directories root's only")

# -- time -----------------------------------------------------------------------------
server.timezone(name="Timezone", timezone=host.data.base_timezone)

timesyncd = file(name="NTP servers", dest="/etc/systemd/timesyncd.conf.d/stack.conf",
                 content=render("templates/base/timesyncd.conf.j2", ntp_servers=host.data.base_ntp_servers))
if virt:
    # timesyncd has ConditionVirtualization=!container: the clock is the machine's.
    logger.warning(f"{host.name}: in a {virt} container, time sync is left to the machine")
    services.kept(name="timesyncd enabled", service="systemd-timesyncd", running=None, enabled=True)
else:
    services.kept(name="timesyncd running", service="systemd-timesyncd", running=True, enabled=True)
    systemd.service(
        name="timesyncd restarted", service="systemd-timesyncd", restarted=True, _if=timesyncd.did_change
    )

# -- sshd --------------------------------------------------------------------------------
# AllowUsers is always set: nobody but these users gets in, root included. The
# deploy user is always among them, so the list can never lock the deploy out.
allow_users = sorted({*host.data.base_sshd_allow_users, host.data.ssh_user})
checked_template(
    name="sshd hardening",
    src="templates/base/sshd.conf.j2",
    dest="/etc/ssh/sshd_config.d/10-stack.conf",
    check="sshd -t -f {path}",
    apply="sshd -t && systemctl reload ssh",  # the drop-in, then the whole config with it
    mode="0600",
    port=host.data.base_sshd_port,
    allow_users=allow_users,
)
files.file(name="sshd_config root's only", path="/etc/ssh/sshd_config", mode="0600")
files.directory(name="Deploy user's home private", path=passwd(host.data.ssh_user)["home"], mode="0750")

# -- firewall ------------------------------------------------------------------------------
def addresses(groups):
    return sorted({h.data.private_address for g in groups for h in inventory.get_group(g, [])})


openings = {}  # port -> None (anyone) or set of source addresses
for group in host.groups:
    for rule in host.data.base_firewall_services.get(group, []):
        port = host.data.get(rule["port"]) if isinstance(rule["port"], str) else rule["port"]
        if rule["from"] == "any" or openings.get(port, 0) is None:
            openings[port] = None
        else:
            openings.setdefault(port, set()).update(addresses(rule["from"]))

services.kept(name="nftables loaded at boot", service="nftables", enabled=True, running=True)
checked_template(
    name="Firewall",
    src="templates/base/nftables.conf.j2",
    dest="/etc/nftables.conf",
    check="nft -c -f {path}",
    apply="systemctl restart nftables",
    mode="0755",
    ssh_port=host.data.base_sshd_port,
    ssh_from=host.data.base_firewall_ssh_from,
    openings={p: (None if s is None else sorted(s)) for p, s in sorted(openings.items())},
)
