"""stack-influx, installed on hosts as /usr/local/sbin/stack-influx: cli.py says what it does."""
