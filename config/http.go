package config

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// ListenOff is the Listen value that turns the HTTP server off (any case).
const ListenOff = "off"

// HTTP server defaults; the server package has the same values as its own
// defaults.
const (
	DefaultHTTPMaxBody      = 1 << 20 // bytes of one request body
	DefaultHTTPMaxLongPolls = 100     // requests waiting at once (pop with wait)
	MinTokenSecretLength    = 16      // bytes of a token's secret
	MaxTokenNameLength      = 64
)

const (
	maxTokensFileBytes       = 1 << 20
	tokenRoleRead            = "read"
	tokenRoleWrite           = "write"
	tokenRoleAdmin           = "admin"
	tokenSyntax              = "name:role:secret"
	maxHTTPMaxBody     int64 = 1 << 30
)

// Token is one bearer token of the HTTP API, written name:role:secret in
// ROTA_TOKENS (comma-separated) and ROTA_TOKENS_FILE (one per line). Name
// identifies the holder in logs (the secret is never logged nor shown in
// errors); Role is read, write or admin.
type Token struct {
	Name   string
	Role   string
	Secret string
}

// ListenDisabled reports whether the HTTP server is turned off (Listen is
// "off").
func (c Config) ListenDisabled() bool { return strings.EqualFold(c.Listen, ListenOff) }

// LoadTokens returns the tokens of ROTA_TOKENS followed by those of
// ROTA_TOKENS_FILE, read now. A bad file, a bad line (named by its number,
// never by its secret) or a name used twice is a *FieldError.
func (c Config) LoadTokens() ([]Token, error) {
	out := append([]Token(nil), c.Tokens...)
	if c.TokensFile != "" {
		fileTokens, err := ReadTokensFile(c.TokensFile)
		if err != nil {
			return nil, err
		}
		out = append(out, fileTokens...)
	}
	seen := make(map[string]bool, len(out))
	for _, t := range out {
		if seen[t.Name] {
			return nil, &FieldError{Field: EnvTokensFile, Value: c.TokensFile,
				Reason: fmt.Sprintf("naming token %q a second time (in ROTA_TOKENS or the file); give each token its own name", t.Name)}
		}
		seen[t.Name] = true
	}
	return out, nil
}

// ReadTokensFile reads a tokens file: one name:role:secret per line; blank
// lines and lines starting with # are skipped.
func ReadTokensFile(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FieldError{Field: EnvTokensFile, Value: path, Reason: "not readable: " + errors.Unwrap(err).Error()}
	}
	defer f.Close()
	var out []Token
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxTokensFileBytes)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		t, err := parseToken(text)
		if err != nil {
			return nil, &FieldError{Field: EnvTokensFile, Value: fmt.Sprintf("%s:%d", path, line), Reason: "a bad token line: " + err.Error()}
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, &FieldError{Field: EnvTokensFile, Value: path, Reason: "not readable: " + err.Error()}
	}
	return out, nil
}

// ParseTokens parses a comma-separated list of name:role:secret tokens
// (ROTA_TOKENS). Empty items are skipped. Errors never contain a secret.
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	n := 0
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n++
		t, err := parseToken(item)
		if err != nil {
			return nil, fmt.Errorf("token %d: %w", n, err)
		}
		out = append(out, t)
	}
	return out, checkTokens(out)
}

// parseToken parses one name:role:secret; the secret may contain colons.
func parseToken(s string) (Token, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return Token{}, fmt.Errorf("not %s", tokenSyntax)
	}
	t := Token{Name: parts[0], Role: strings.ToLower(parts[1]), Secret: parts[2]}
	return t, checkToken(t)
}

// checkToken checks one token. Its errors quote no part of the token: a
// secret written in the wrong place (name:secret:role) must not reach a log;
// callers say which token (its position) is wrong.
func checkToken(t Token) error {
	if t.Name == "" || len(t.Name) > MaxTokenNameLength || strings.IndexFunc(t.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("the name (first part) is not 1 to %d letters, digits, '.', '_' or '-'", MaxTokenNameLength)
	}
	switch t.Role {
	case tokenRoleRead, tokenRoleWrite, tokenRoleAdmin:
	default:
		return errors.New("the role (second part) is not read, write or admin")
	}
	if len(t.Secret) < MinTokenSecretLength {
		return fmt.Errorf("the secret (third part) is shorter than %d bytes", MinTokenSecretLength)
	}
	if strings.IndexFunc(t.Secret, func(r rune) bool { return r <= ' ' || r == ',' || r == 0x7f }) >= 0 {
		return errors.New("the secret (third part) has a space, a comma or a control character")
	}
	return nil
}

func checkTokens(ts []Token) error {
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		if err := checkToken(t); err != nil {
			return fmt.Errorf("token %d: %w", i+1, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("token name %q is used twice", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// redactTokens shows a token list with every secret hidden.
func redactTokens(s string) string {
	items := strings.Split(s, ",")
	for i, item := range items {
		// Only a well-formed name and role are shown: a secret written in
		// their place (name:secret:role) stays hidden.
		t, err := parseToken(strings.TrimSpace(item))
		switch {
		case err == nil, err != nil && t.Name != "" && checkToken(Token{Name: t.Name, Role: t.Role, Secret: strings.Repeat("x", MinTokenSecretLength)}) == nil:
			items[i] = t.Name + ":" + t.Role + ":xxxxx"
		case strings.TrimSpace(item) != "":
			items[i] = "xxxxx"
		}
	}
	return strings.Join(items, ",")
}

// tokensValue is ROTA_TOKENS / --tokens. Its String never shows a secret.
type tokensValue struct{ p *[]Token }

func (v *tokensValue) Type() string { return "tokens" }
func (v *tokensValue) String() string {
	parts := make([]string, len(*v.p))
	for i, t := range *v.p {
		parts[i] = t.Name + ":" + t.Role + ":xxxxx"
	}
	return strings.Join(parts, ",")
}
func (v *tokensValue) check() error {
	if err := checkTokens(*v.p); err != nil {
		return fmt.Errorf("not a token list (%s,...): %w", tokenSyntax, err)
	}
	return nil
}
func (v *tokensValue) Set(s string) error {
	ts, err := ParseTokens(s)
	if err != nil {
		return fmt.Errorf("not a token list (%s,...): %w", tokenSyntax, err)
	}
	*v.p = ts
	return nil
}

// ParseByteSize parses a size in bytes: a whole number, optionally followed
// by B, KiB, MiB or GiB (powers of 1024) or KB, MB or GB (powers of 1000).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("config: %q is not a size (like 1048576 or 1MiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("config: %q is out of range", s)
	}
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
	m, ok := mult[strings.TrimSpace(t[i:])]
	if !ok {
		return 0, fmt.Errorf("config: %q has an unknown unit (B, KiB, MiB, GiB, KB, MB or GB)", s)
	}
	if n > math.MaxInt64/m {
		return 0, fmt.Errorf("config: %q is out of range", s)
	}
	return n * m, nil
}

// FormatByteSize writes n as ParseByteSize reads it back, in the largest
// binary unit that divides it.
func FormatByteSize(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// byteSizeValue is a size in bytes between 1 KiB and 1 GiB.
type byteSizeValue struct{ p *int64 }

func (v *byteSizeValue) Type() string   { return "size" }
func (v *byteSizeValue) String() string { return FormatByteSize(*v.p) }
func (v *byteSizeValue) check() error   { return checkByteSize(*v.p) }
func (v *byteSizeValue) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return errors.New("not a size (like 1048576 or 1MiB)")
	}
	if err := checkByteSize(n); err != nil {
		return err
	}
	*v.p = n
	return nil
}

func checkByteSize(n int64) error {
	if n < 1<<10 || n > maxHTTPMaxBody {
		return errors.New("out of range; want 1KiB to 1GiB")
	}
	return nil
}

// intValue is a whole number of at least 1.
type intValue struct{ p *int }

func (v *intValue) Type() string   { return "int" }
func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) check() error {
	if *v.p < 1 {
		return errors.New("less than 1; want a whole number of at least 1")
	}
	return nil
}
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < 1 {
		return errors.New("less than 1; want a whole number of at least 1")
	}
	*v.p = n
	return nil
}

// normPath accepts a file path; empty means none.
func normPath(s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", errors.New("not a file path")
	}
	return s, nil
}
