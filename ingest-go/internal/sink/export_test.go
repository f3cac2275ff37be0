package sink

import "context"

// SettleS3 runs the decision an S3 commit makes when it fails with err (e.g. a 412 after the SDK
// retried a commit whose reply was lost).
func SettleS3(ctx context.Context, u Upload, err error) error { return u.(*s3Upload).settle(ctx, err) }

// S3BufferCap is the capacity of an S3 upload's part buffer.
func S3BufferCap(u Upload) int { return cap(u.(*s3Upload).buf) }
