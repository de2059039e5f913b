package config

import (
	"errors"
	"net/url"
)

// normServer accepts "" (no server) or an http:// or https:// URL with a host.
func normServer(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("not a server URL (like http://127.0.0.1:7700)")
	}
	return s, nil
}

// secretValue is a string setting that is never shown: String, which
// pflag prints as the default in --help, hides it.
type secretValue struct{ p *string }

func (v *secretValue) Type() string { return "string" }
func (v *secretValue) check() error { return nil }
func (v *secretValue) Set(s string) error {
	*v.p = s
	return nil
}
func (v *secretValue) String() string {
	if *v.p == "" {
		return ""
	}
	return "xxxxx"
}
