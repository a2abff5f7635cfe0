"""Programs the deploy installs on hosts, each a package shipped as one zipapp
(stack/programs.py): stack-mysql, stack-influx, stack-app, stack-backup; and
traffic.py, which rollout runs on web hosts.

They run on the hosts' /usr/bin/python3 with the standard library and the
Debian packages their tasks install, never anything from this repository. A
package's modules import one another relatively: the same code is then
stack.hosttools.<package> here (the unit tests) and <package> at the zipapp's root.
"""
