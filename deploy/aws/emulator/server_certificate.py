"""Tier 2: upload a throwaway self-signed server certificate to the emulator's IAM; prints its ARN (the
webserver's HTTPS listener takes it as certificate_arn). Usage: python server_certificate.py ENDPOINT WORKDIR"""

import subprocess
import sys
from pathlib import Path

import boto3

endpoint, work = sys.argv[1], Path(sys.argv[2])
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=jackfruit-ci",
                "-keyout", str(work / "web.key"), "-out", str(work / "web.crt")], check=True, capture_output=True)
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                   aws_secret_access_key="testing")
reply = iam.upload_server_certificate(ServerCertificateName="jackfruit-ci-web",
                                      CertificateBody=(work / "web.crt").read_text(),
                                      PrivateKey=(work / "web.key").read_text())
print(reply["ServerCertificateMetadata"]["Arn"])
