"""What the ops flows write: the measurements, and their points in line protocol."""

from __future__ import annotations


# measurement -> tags and fields (field -> type) that the ops flows write
MEASUREMENTS = {
    "deployment": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    # tasks/migrate.py (and deploy.py's migrations): the release whose revisions ran
    "migration": {"tags": ["environment", "release", "from_revision", "to_revision"],
                  "fields": {"duration_s": float, "success": int}},
    # tasks/rollback.py: release is the one rolled back to
    "rollback": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    # stack-backup run, on the backup source host (its timer, or tasks/backup.py)
    "backup": {"tags": ["environment", "host", "method"],
               "fields": {"duration_s": float, "size_bytes": int, "success": int}},
    # stack-backup swap (tasks/restore.py, kind=restore) and drill (tasks/restore_drill.py):
    # duration_s is the RTO, from the start of the staging to the rows checked
    "restore": {"tags": ["environment", "host", "kind", "method"], "fields": {"duration_s": float, "success": int}},
}


class Failure(Exception):
    pass


def line(measurement: str, tags: dict, fields: dict) -> str:
    """One point in line protocol, checked against MEASUREMENTS."""
    spec = MEASUREMENTS.get(measurement)
    if spec is None:
        raise Failure(f"unknown measurement {measurement!r}; known: {sorted(MEASUREMENTS)}")
    unknown = (set(tags) - set(spec["tags"])) | (set(fields) - set(spec["fields"]))
    if unknown or not fields:
        raise Failure(f"{measurement}: unknown or missing names {sorted(unknown) or 'fields'}")

    def esc(v):
        # as influxdb-client escapes (tests/unit/test_stack_influx.py compares the two)
        return str(v).replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")

    tag_part = "".join(f",{esc(k)}={esc(v)}" for k, v in sorted(tags.items()))
    values = []
    for k, v in sorted(fields.items()):
        kind = spec["fields"][k]
        try:
            values.append(f"{esc(k)}={int(v)}i" if kind is int else f"{esc(k)}={float(v)}")
        except ValueError:
            raise Failure(f"{measurement}: field {k}={v!r} is not {'a whole number' if kind is int else 'a number'}") from None
    return f"{measurement}{tag_part} {','.join(values)}"


def parse_pairs(pairs: list[str], spec: dict) -> tuple[dict, dict]:
    tags, fields = {}, {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        (fields if key in spec["fields"] else tags)[key] = value
    return tags, fields
