# Tier 2: the example root applied to the AWS emulator (moto_server). Every switch below turns off only
# what the emulator mis-evaluates or lacks; the tier 1 tests assert the production defaults keep them on.
bucket_prefix = "ci-"
image         = "000000000000.dkr.ecr.us-east-1.amazonaws.com/jackfruit-ci:1"
# certificate_arn: a self-signed server certificate that scripts/iac-check uploads to the emulator's IAM first
# (TF_VAR_certificate_arn): the listener is HTTPS as in production
region             = "us-east-1"
environment        = "ci"
availability_zones = ["us-east-1a", "us-east-1b"]

# The emulator is served over plain HTTP: a TLS-only deny would refuse every request of the test.
deny_insecure_transport = false
# The emulator refuses every PUT under a policy that uses the s3:if-none-match condition key, conditional or
# not (AWS S3 allows the conditional one): jackfruit's own writes carry If-None-Match and are checked instead.
enforce_conditional_writes = false
# The emulator answers 404 to CloudWatch's current wire protocol (the SDK's PutMetricAlarm): no metric alarms.
# The log metric filters they watch are still created.
alarms = false
