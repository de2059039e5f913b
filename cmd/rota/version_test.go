package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/rotahq/rota/internal/version"
)

// TestVersionCommand runs `rota version` and `rota --version` in process:
// both print the version of internal/version (the one nodes register),
// --json all that the build recorded, and neither needs a valid
// configuration.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	want := version.Read()
	if want.Version == "" {
		t.Fatal("version.Read().Version is empty")
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		// check judges the standard output.
		check func(t *testing.T, out string)
	}{
		{"table", []string{"version"}, nil, exitOK, func(t *testing.T, out string) {
			got := fields(out)
			for k, v := range map[string]string{"version": want.Version, "module": version.ModulePath + " " + want.ModuleVersion,
				"go": runtime.Version() + " " + want.Platform} {
				if got[k] != v {
					t.Errorf("%s: %q, want %q in\n%s", k, got[k], v, out)
				}
			}
		}},
		{"json", []string{"version", "--json"}, nil, exitOK, func(t *testing.T, out string) {
			var got version.Info
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if got != want || got.GoVersion != runtime.Version() {
				t.Errorf("got %+v, want %+v", got, want)
			}
		}},
		{"flag", []string{"--version"}, nil, exitOK, func(t *testing.T, out string) {
			if out != "rota version "+want.Version+"\n" {
				t.Errorf("got %q, want %q", out, "rota version "+want.Version+"\n")
			}
		}},
		{"bad configuration", []string{"version"}, map[string]string{"ROTA_LEASE_DURATION": "bogus"}, exitOK,
			func(t *testing.T, out string) {
				if got := fields(out)["version"]; got != want.Version {
					t.Errorf("version %q, want %q in\n%s", got, want.Version, out)
				}
			}},
		{"argument", []string{"version", "now"}, nil, exitUsage, func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("stdout %q, want none", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			if code := run(tc.args, getenv, strings.NewReader(""), &stdout, &stderr); code != tc.code {
				t.Fatalf("rota %v: exit %d, want %d; stderr %s", tc.args, code, tc.code, stderr.String())
			}
			tc.check(t, stdout.String())
		})
	}
}

// fields reads "key:  value" lines into a map.
func fields(out string) map[string]string {
	m := make(map[string]string)
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
