// Package adsapi holds the ADS retrieve-API wire types shared by the stub server and the ingester.
package adsapi

import (
	"bytes"
	"encoding/json"
	"time"
)

// ServicePrefix is appended to the API root for the retrieve service.
const ServicePrefix = "/retrieve/v1"

// Job status values (ads-api.md §2.4).
const (
	StatusAccepted   = "accepted"
	StatusRunning    = "running"
	StatusSuccessful = "successful"
	StatusFailed     = "failed"
	StatusRejected   = "rejected"
	StatusDismissed  = "dismissed"
	StatusDeleted    = "deleted"
)

// TimeLayout is the zone-less ISO-8601 form the ADS emits; clients treat it as UTC.
const TimeLayout = "2006-01-02T15:04:05.000000"

// Link is an OGC API link.
type Link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel,omitempty"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

// StatusInfo is the job object. Null fields are omitted, as the real service does.
type StatusInfo struct {
	ProcessID string         `json:"processID,omitempty"`
	Type      string         `json:"type,omitempty"`
	JobID     string         `json:"jobID"`
	Status    string         `json:"status"`
	Message   string         `json:"message,omitempty"`
	Created   string         `json:"created,omitempty"`
	Started   string         `json:"started,omitempty"`
	Finished  string         `json:"finished,omitempty"`
	Updated   string         `json:"updated,omitempty"`
	Links     []Link         `json:"links,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// LinkHref returns the href of the first link with rel, or "".
func (s *StatusInfo) LinkHref(rel string) string {
	for _, l := range s.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// Problem is the RFC-7807-like error body (ads-api.md §3).
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// Asset is the downloadable result description.
type Asset struct {
	Type     string `json:"type"`
	Href     string `json:"href"`
	Size     int64  `json:"file:size"`
	Checksum string `json:"file:checksum,omitempty"`
}

// Results is the body of GET /jobs/{id}/results.
type Results struct {
	Asset struct {
		Value Asset `json:"value"`
	} `json:"asset"`
}

// JobList is the body of GET /jobs (OGC API Processes job list; paged with links rel=next).
type JobList struct {
	Jobs  []StatusInfo `json:"jobs"`
	Links []Link       `json:"links,omitempty"`
}

// ParseTime reads an ADS timestamp: zone-less ISO-8601 (taken as UTC, as the reference client does) or RFC 3339.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
}

// FormatTime renders t in the ADS zone-less form.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// CanonicalJSON re-encodes a JSON document with sorted object keys and normalised numbers and spacing, so two
// encodings of the same request compare equal: the one rule by which a job is known to be of a request (the
// ingester's job searches, the stub's job counts).
func CanonicalJSON(b []byte) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	out, err := json.Marshal(v)
	return string(out), err == nil
}
