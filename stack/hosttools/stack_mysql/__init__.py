"""stack-mysql, installed on hosts as /usr/local/sbin/stack-mysql: cli.py says what it does."""
