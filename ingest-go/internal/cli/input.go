package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

const maxInputLine = 1 << 20

// stdinInput is the first stdin line of --input -.
type stdinInput struct {
	request json.RawMessage
	apiKey  string
	s3      *sink.S3Credentials // nil: not given
}

// readInputLine reads the first stdin line: {"request": {...}, "api_key": "...", "s3": {...}}. The
// message of a failure never quotes the line (it may hold keys).
func readInputLine(r *bufio.Reader) (stdinInput, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxInputLine {
			return stdinInput{}, fmt.Errorf("the first stdin line is longer than %d bytes", maxInputLine)
		}
		if err == nil || (errors.Is(err, io.EOF) && len(line) > 0) {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return stdinInput{}, errors.New("stdin ended before the input line")
		}
		return stdinInput{}, fmt.Errorf("reading stdin: %v", err)
	}
	var in struct {
		Request json.RawMessage `json:"request"`
		APIKey  *string         `json:"api_key"`
		S3      *struct {
			AccessKey    string `json:"access_key"`
			SecretKey    string `json:"secret_key"`
			SessionToken string `json:"session_token"`
		} `json:"s3"`
	}
	bad := errors.New(`the first stdin line must be one JSON object {"request": {...ADS inputs...}, "api_key": "...", ` +
		`"s3": {"access_key": "...", "secret_key": "...", "session_token": "..."}} (api_key, s3 and session_token optional; strings)`)
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&in); err != nil {
		return stdinInput{}, bad
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return stdinInput{}, bad
	}
	req, err := compactObject(in.Request)
	if err != nil {
		return stdinInput{}, fmt.Errorf("\"request\" %v", err)
	}
	out := stdinInput{request: req}
	if in.APIKey != nil {
		out.apiKey = *in.APIKey
	}
	if in.S3 != nil {
		if in.S3.AccessKey == "" || in.S3.SecretKey == "" {
			return stdinInput{}, errors.New(`"s3" needs non-empty "access_key" and "secret_key" ("session_token" optional)`)
		}
		out.s3 = &sink.S3Credentials{AccessKey: in.S3.AccessKey, SecretKey: in.S3.SecretKey, SessionToken: in.S3.SessionToken}
	}
	return out, nil
}

// readRequest reads --request-file PATH ('-': all of stdin).
func readRequest(path string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, maxInputLine))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return compactObject(b)
}

func compactObject(b []byte) (json.RawMessage, error) {
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, errors.New("must contain a JSON object of ADS inputs")
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}
