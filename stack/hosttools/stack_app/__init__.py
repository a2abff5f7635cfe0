"""stack-app, installed on hosts as /usr/local/sbin/stack-app: cli.py says what it does."""
