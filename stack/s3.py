"""Where backups and the weekly log archives go: the S3 settings stack-backup's configs
carry (tasks/backup_schedule.py, tasks/logs.py), the keys from the secrets."""

from stack import secrets


def settings(host) -> dict:
    return {
        "endpoint": host.data.backup_s3_endpoint,
        "bucket": host.data.backup_s3_bucket,
        "region": host.data.backup_s3_region,
        "sse": host.data.backup_s3_sse,
        "access_key_id": secrets.get("s3_access_key_id", host),
        "secret_access_key": secrets.get("s3_secret_access_key", host),
    }
