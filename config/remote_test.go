package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestServerAndToken(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvServer: "https://rota.example.org:7700", EnvToken: "tok-secret-0123456789"}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil || c.Server != env[EnvServer] || c.Token != env[EnvToken] {
		t.Fatalf("FromEnv: %+v %v", c, err)
	}
	// The token is not shown in --help (pflag prints a flag's value as its default).
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.BindFlags(fs)
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), env[EnvToken]) || !strings.Contains(help.String(), "--token") {
		t.Errorf("help shows the token or lacks --token:\n%s", help.String())
	}
	// A password in the URL is not shown in the error.
	if _, err := FromEnv(func(k string) string {
		if k == EnvServer {
			return "ftp://me:hunter2-0123456789@host"
		}
		return ""
	}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad server URL with a password: %v", err)
	}
	for _, bad := range []string{"127.0.0.1:7700", "ftp://host", "http://", "http://h/?a=1"} {
		_, err := FromEnv(func(k string) string {
			if k == EnvServer {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), EnvServer) {
			t.Errorf("ROTA_SERVER=%q: %v", bad, err)
		}
	}
}
