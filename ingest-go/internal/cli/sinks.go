package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// checkBaseURL refuses an upstream that can never work, before any network call.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q does not parse as a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https, not %q", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries user information; the API key travels only as PRIVATE-TOKEN", redactUser(u))
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not in 1..65535", raw, p)
		}
	}
	return nil
}

func redactUser(u *url.URL) string {
	c := *u
	c.User = url.User("***")
	return c.String()
}

// sinkSpec is a parsed --sink / --sink-dir: a filesystem root, or an S3 bucket (credentials
// still to come from the input line or the environment).
type sinkSpec struct {
	dir string
	s3  *sink.S3Config
}

// parseSinkURL parses file:///ABS/DIR or s3://BUCKET?…; its errors never quote the URL (it may
// carry a secret by mistake).
func parseSinkURL(raw string) (sinkSpec, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return sinkSpec{}, errors.New("must be a URL: file:///ABS/DIR or s3://BUCKET?endpoint=…")
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return sinkSpec{}, errors.New("the file URL does not parse")
		}
		if u.User != nil || (u.Host != "" && u.Host != "localhost") || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
			return sinkSpec{}, errors.New("a file sink URL is file:///ABS/DIR (absolute path; no host, user info, query or fragment)")
		}
		return sinkSpec{dir: u.Path}, nil
	case "s3":
		cfg, err := sink.ParseS3URL(raw)
		if err != nil {
			return sinkSpec{}, err
		}
		return sinkSpec{s3: &cfg}, nil
	}
	return sinkSpec{}, fmt.Errorf("scheme must be file or s3, not %q", scheme)
}

// openSink makes the sink of spec: S3 credentials from the input line (in), else from the environment (getenv).
// A usage error is returned as usage; an unwritable directory as unavailable (nothing submitted).
func openSink(spec sinkSpec, in *sink.S3Credentials, attempt string, getenv func(string) string) (s sink.Sink, usage string, err error) {
	if spec.s3 == nil {
		fsink, err := sink.NewFS(spec.dir)
		if err != nil {
			return nil, "", err
		}
		fsink.Attempt = attempt
		return fsink, "", nil
	}
	cfg := *spec.s3
	if in != nil {
		cfg.Credentials = *in
	} else {
		cfg.Credentials = sink.S3Credentials{AccessKey: getenv("AWS_ACCESS_KEY_ID"), SecretKey: getenv("AWS_SECRET_ACCESS_KEY")}
		if cfg.Credentials.AccessKey != "" {
			cfg.Credentials.SessionToken = getenv("AWS_SESSION_TOKEN")
		}
	}
	if cfg.Credentials.AccessKey == "" || cfg.Credentials.SecretKey == "" {
		return nil, `no S3 credentials: give "s3": {"access_key": …, "secret_key": …} in the --input line or set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY (never in the URL or a flag)`, nil
	}
	s3sink, err := sink.NewS3(cfg)
	if err != nil {
		return nil, "--sink: " + err.Error(), nil
	}
	s3sink.Attempt = attempt
	return s3sink, "", nil
}
