"""python -m testbed up|down|status|ssh HOST [COMMAND...]"""

import argparse
import os
import sys

from testbed import TOPOLOGY, Testbed, TestbedError, rootfs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m testbed",
                                description="Local testbed: disposable Debian hosts booted by systemd-nspawn.")
    p.add_argument("--name", default=os.environ.get("TESTBED_NAME", "tb"))
    p.add_argument("--subnet", default=os.environ.get("TESTBED_SUBNET", "10.231.0.0/24"))
    p.add_argument("--release", default=os.environ.get("TESTBED_RELEASE", rootfs.DEFAULT_RELEASE),
                   choices=list(rootfs.RELEASES), help="the Debian release the hosts boot (default: %(default)s)")
    p.add_argument("--hosts", default=None, help=f"comma-separated subset of {','.join(TOPOLOGY)}")
    p.add_argument("--extra", type=int, default=0, metavar="N",
                   help="also N light base-only hosts, base1..baseN (group base_servers)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    ssh = sub.add_parser("ssh", help="a root shell on HOST (the deploy user's sudo), or one command as root")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("the testbed needs root (network namespaces, mounts, systemd-nspawn)", file=sys.stderr)
        return 2
    hosts = tuple(args.hosts.split(",")) if args.hosts else tuple(TOPOLOGY)
    try:
        tb = Testbed(name=args.name, subnet=args.subnet, hosts=hosts, extra=args.extra, release=args.release)
        if args.cmd == "up":
            tb.up()
        elif args.cmd == "down":
            tb.down()
        elif args.cmd == "status":
            print(tb.status())
        elif args.cmd == "ssh":
            command = ["sudo", "--", *args.command] if args.command else ["sudo", "-i"]
            os.execvp("ssh", ["ssh", "-t", "-F", str(tb.state_dir / "ssh_config"), args.host, *command])
    except TestbedError as e:
        print(f"testbed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
