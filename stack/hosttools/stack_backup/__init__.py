"""stack-backup, installed on hosts as /usr/local/sbin/stack-backup: cli.py says what it does."""
