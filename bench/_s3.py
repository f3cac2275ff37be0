"""What the benchmarks share about S3 buckets they make for a run (``bench/`` is run as scripts: ``import _s3``)."""

from __future__ import annotations


def drop_bucket(client, bucket: str) -> None:
    """Abort the bucket's multipart uploads, delete its objects, then the bucket (boto3 client)."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for u in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=o["Key"])
    client.delete_bucket(Bucket=bucket)
