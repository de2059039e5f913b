package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Role is what a token may do. Each role may do what the roles below it may.
type Role int

// Roles, lowest first. rolePublic marks routes that need no token.
const (
	rolePublic Role = iota
	// RoleRead may read: every GET, and /metrics.
	RoleRead
	// RoleWrite may also change jobs and queues: enqueue, abort, retry,
	// release, complete and fail, pop, push, pause and resume.
	RoleWrite
	// RoleAdmin may do everything: also delete jobs and change a queue's
	// limits.
	RoleAdmin
)

// String returns the role's name (read, write, admin).
func (r Role) String() string {
	switch r {
	case rolePublic:
		return "public"
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole parses read, write or admin (any case).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("server: role %q is not read, write or admin", s)
}

// Token is a bearer token: Name identifies its holder in logs, Secret is
// what the client sends ("Authorization: Bearer <Secret>").
type Token struct {
	Name   string
	Role   Role
	Secret string
}

// MinSecretLength is the shortest secret New accepts.
const MinSecretLength = 16

// identity is who made a request: a token's name and role.
type identity struct {
	name string
	role Role
}

// anonymousName is the identity's name of every request to a server
// without tokens; such requests may do everything.
const anonymousName = "anonymous"

// authenticator checks bearer tokens. It keeps only the secrets' SHA-256
// hashes, and compares a presented secret's hash with every token's in
// constant time, without stopping at a match, so that neither the time
// nor the order of the tokens tells anything about a secret.
type authenticator struct {
	tokens []hashedToken
	// compare is subtle.ConstantTimeCompare; tests wrap it to see it used.
	compare func(a, b []byte) int
}

type hashedToken struct {
	name string
	role Role
	hash [sha256.Size]byte
}

func newAuthenticator(ts []Token) (*authenticator, error) {
	a := &authenticator{compare: subtle.ConstantTimeCompare}
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("server: token %d has no name", i+1)
		case seen[t.Name]:
			return nil, fmt.Errorf("server: token name %q is used twice", t.Name)
		case t.Role < RoleRead || t.Role > RoleAdmin:
			return nil, fmt.Errorf("server: token %q has no role (read, write or admin)", t.Name)
		case len(t.Secret) < MinSecretLength:
			return nil, fmt.Errorf("server: token %q: the secret is shorter than %d bytes", t.Name, MinSecretLength)
		}
		seen[t.Name] = true
		a.tokens = append(a.tokens, hashedToken{name: t.Name, role: t.Role, hash: sha256.Sum256([]byte(t.Secret))})
	}
	return a, nil
}

// open reports whether the server has no tokens: every request is allowed.
func (a *authenticator) open() bool { return len(a.tokens) == 0 }

// authenticate returns who sent r, or a 401.
func (a *authenticator) authenticate(r *http.Request) (identity, error) {
	if a.open() {
		return identity{name: anonymousName, role: RoleAdmin}, nil
	}
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return identity{}, &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "this API needs a bearer token: Authorization: Bearer <token>"}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return identity{}, &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "the Authorization header is not \"Bearer <token>\""}
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	match := -1
	for i := range a.tokens {
		if a.compare(sum[:], a.tokens[i].hash[:]) == 1 {
			match = i // no break: every token is compared
		}
	}
	if match < 0 {
		return identity{}, &apiError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "unknown token"}
	}
	return identity{name: a.tokens[match].name, role: a.tokens[match].role}, nil
}

// authorize checks that id may use a route that needs role.
func authorize(id identity, need Role) error {
	if id.role >= need {
		return nil
	}
	return &apiError{Status: http.StatusForbidden, Code: CodeForbidden,
		Message: fmt.Sprintf("token %q has role %s; this needs %s", id.name, id.role, need)}
}

// NeedsTokens reports whether a server listening on addr (host:port) must
// have tokens: every address but a loopback one (127.0.0.0/8, ::1,
// localhost). An empty host (":7700") listens on every interface.
func NeedsTokens(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
