"""What tasks/base.py does with an sshd value that sshd -t rejects: the check must stop it."""

from stack.configs import checked_template

checked_template(
    name="sshd hardening with an unusable port",
    src="templates/base/sshd.conf.j2",
    dest="/etc/ssh/sshd_config.d/10-stack.conf",
    check="sshd -t -f {path}",
    apply="sshd -t && systemctl reload ssh",
    port="not-a-port",
    allow_users=["deploy"],
)
