package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

const secretA = "s3cret-aaaaaaaaaaaaaaaa"

func TestTokenErrorsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"ci:owner:" + secretA,              // bad role
		"ci:read:" + secretA + ",ci:admin", // bad second item
		"ci:read:" + secretA + ",ci:read:" + secretA,
		"bad name:read:" + secretA,
		secretA,
	} {
		_, err := FromEnv(envOf(map[string]string{EnvTokens: raw}))
		if err == nil {
			t.Errorf("%q: no error", raw)
			continue
		}
		if strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	// Validate and the flag's shown value hide them too.
	c := Default()
	c.Tokens = []Token{{"ci", "read", secretA}, {"ci", "admin", secretA}}
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), secretA) {
		t.Errorf("Validate = %v: want an error without the secret", err)
	}
	fs := pflag.NewFlagSet("rota", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	c.BindFlags(fs)
	if v := fs.Lookup("tokens").Value.String(); v != "ci:read:xxxxx,ci:admin:xxxxx" {
		t.Errorf("--tokens shows %q", v)
	}
}

func TestLoadTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# ops tokens\n\nops:admin:"+secretA+"\n  dash:READ:0123456789abcdef  \n")
	c := Default()
	c.Tokens = []Token{{"ci", "write", "0123456789abcdef"}}
	c.TokensFile = good
	got, err := c.LoadTokens()
	want := []Token{{"ci", "write", "0123456789abcdef"}, {"ops", "admin", secretA}, {"dash", "read", "0123456789abcdef"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadTokens = %v, %v; want %v", got, err, want)
	}

	tests := []struct {
		name, file, want string
	}{
		{"bad line", write("bad", "ops:admin:"+secretA+"\nlazy:root:"+secretA+"\n"), `bad:2" is a bad token line: the role (second part) is not read, write or admin`},
		{"missing", filepath.Join(dir, "nope"), "not readable"},
		{"name twice", write("twice", "ci:read:"+secretA+"\n"), `naming token "ci" a second time`},
	}
	for _, tt := range tests {
		c.TokensFile = tt.file
		_, err := c.LoadTokens()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != EnvTokensFile || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: LoadTokens = %v; want a %s error containing %q", tt.name, err, EnvTokensFile, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secretA) {
			t.Errorf("%s: error shows the secret: %v", tt.name, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1024": 1024, "1KiB": 1024, "3 MiB": 3 << 20, "1GiB": 1 << 30, "5KB": 5000, "7B": 7} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "1TB", "99999999999999999999", "9999999999999GiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
	for _, n := range []int64{1, 1000, 1024, 1536, 1 << 20, 5 << 30} {
		if got, err := ParseByteSize(FormatByteSize(n)); err != nil || got != n {
			t.Errorf("FormatByteSize(%d) = %q reads back as %d, %v", n, FormatByteSize(n), got, err)
		}
	}
}

func TestListenOff(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(envOf(map[string]string{EnvListen: "Off"}))
	if err != nil || !c.ListenDisabled() || c.Listen != ListenOff {
		t.Errorf("ROTA_LISTEN=Off: %+v, %v; want disabled", c.Listen, err)
	}
	if Default().ListenDisabled() {
		t.Error("the default listen address is disabled")
	}
}

func TestEventLogSetting(t *testing.T) {
	t.Parallel()
	if Default().EventLogDisabled() {
		t.Error("the event log is off by default")
	}
	for _, tc := range []struct {
		val     string
		off     bool
		wantErr bool
	}{
		{"on", false, false}, {"OFF", true, false}, {" off ", true, false}, {"On", false, false},
		{"no", false, true}, {"0", false, true},
	} {
		c, err := FromEnv(envOf(map[string]string{EnvEventLog: tc.val}))
		switch {
		case tc.wantErr:
			if err == nil || !strings.Contains(err.Error(), EnvEventLog) {
				t.Errorf("ROTA_EVENT_LOG=%q: %v; want an error naming %s", tc.val, err, EnvEventLog)
			}
		case err != nil || c.EventLogDisabled() != tc.off:
			t.Errorf("ROTA_EVENT_LOG=%q: disabled %v, %v; want %v", tc.val, c.EventLogDisabled(), err, tc.off)
		}
	}
}
