"""One boto3 call on the testbed's bucket, in a process of its own (tests/e2e/helpers.bucket_of).

    python -m tests.e2e.s3_call CONFIG_JSON METHOD < ARGUMENTS_JSON

A Body goes in and comes out base64-encoded; the answer is printed as JSON.
"""

import base64
import json
import sys

import boto3


def main():
    cfg, method, kw = json.loads(sys.argv[1]), sys.argv[2], json.load(sys.stdin)
    if "Body" in kw:
        kw["Body"] = base64.b64decode(kw["Body"])
    out = getattr(boto3.client("s3", **cfg), method)(Bucket="stack-backups", **kw)
    if "Body" in out:
        out["Body"] = base64.b64encode(out["Body"].read()).decode()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
