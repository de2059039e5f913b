// Package apicursor encodes the opaque page cursors of the HTTP API, so
// that the server and the Go client of the API (package remote) agree on
// them. To API users they stay opaque: the format is versioned and may
// change with the version prefix.
package apicursor

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Version prefixes of the cursor formats.
const (
	jobsPrefix      = "c1"
	schedulesPrefix = "s1"
)

// Jobs is the cursor of the page of jobs after id, in descending (desc)
// or ascending id order.
func Jobs(desc bool, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(jobsPrefix + ":" + Order(desc) + ":" + strconv.FormatInt(id, 10)))
}

// ParseJobs reads a cursor made by Jobs; ok is false for anything else.
func ParseJobs(c string) (desc bool, id int64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return false, 0, false
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != jobsPrefix || (parts[1] != "asc" && parts[1] != "desc") {
		return false, 0, false
	}
	id, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id <= 0 {
		return false, 0, false
	}
	return parts[1] == "desc", id, true
}

// Schedules is the cursor of the page of schedules whose keys sort after key.
func Schedules(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(schedulesPrefix + ":" + key))
}

// ParseSchedules reads a cursor made by Schedules; ok is false for
// anything else.
func ParseSchedules(c string) (key string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", false
	}
	key, ok = strings.CutPrefix(string(b), schedulesPrefix+":")
	if !ok || key == "" {
		return "", false
	}
	return key, true
}

// Order names an order: "desc" or "asc".
func Order(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}
