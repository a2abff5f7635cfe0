"""stack-app record, run by the current release's Python with ``python -c`` (as
plan_script.py), with its driver and the app's settings: a deployment_record row
and an audit_log row, in one transaction (the audit_log row only, for a flow that
is no deployment).

    python -c SOURCE '{"action": ..., "release": ..., "from": ..., "to": ..., "success": ...,
                       "duration": ..., "who": ..., "detail": ...}'
"""

import json
import os
import sys

import pymysql


def main():
    e, r = os.environ, json.loads(sys.argv[1])
    c = pymysql.connect(host=e["DATABASE_HOST"], port=int(e["DATABASE_PORT"]), user=e["DATABASE_USER"],
                        password=e["DATABASE_PASSWORD"], database=e["DATABASE_NAME"], connect_timeout=5,
                        ssl_ca=e["TLS_CA"], ssl_verify_cert=True, ssl_verify_identity=True)
    cur = c.cursor()
    if not r.get("audit_only"):
        cur.execute("INSERT INTO deployment_record (action, release_id, from_revision, to_revision, success, "
                    "duration_s) VALUES (%s, %s, %s, %s, %s, %s)",
                    (r["action"], r["release"], r["from"], r["to"], r["success"], r["duration"]))
    cur.execute("INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
                (r["who"], r["action"], r["release"], r["detail"]))
    c.commit()


if __name__ == "__main__":
    main()
