"""Every host: apt (and its proxy), base packages, time, sshd hardening, firewall."""

from pyinfra import host, inventory, logger
from pyinfra.operations import files, server, systemd

from stack import packages
from stack.configs import checked_template
from stack.hostfacts import container

virt = container()

# -- apt ----------------------------------------------------------------------------
if host.data.base_apt_proxy:
    files.template(
        name="apt proxy",
        src="templates/base/apt-proxy.conf.j2",
        dest="/etc/apt/apt.conf.d/01proxy",
        proxy=host.data.base_apt_proxy,
    )
else:
    files.file(name="No apt proxy", path="/etc/apt/apt.conf.d/01proxy", present=False)

packages.present("Base packages", host.data.base_packages)

# -- time -----------------------------------------------------------------------------
server.timezone(name="Timezone", timezone=host.data.base_timezone)

timesyncd = files.template(
    name="NTP servers",
    src="templates/base/timesyncd.conf.j2",
    dest="/etc/systemd/timesyncd.conf.d/stack.conf",
    ntp_servers=host.data.base_ntp_servers,
)
if virt:
    # timesyncd has ConditionVirtualization=!container: the clock is the machine's.
    logger.warning(f"{host.name}: in a {virt} container, time sync is left to the machine")
    systemd.service(name="timesyncd enabled", service="systemd-timesyncd", running=None, enabled=True)
else:
    systemd.service(name="timesyncd running", service="systemd-timesyncd", running=True, enabled=True)
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
    port=host.data.base_sshd_port,
    allow_users=allow_users,
)

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

systemd.service(name="nftables loaded at boot", service="nftables", enabled=True, running=True)
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
