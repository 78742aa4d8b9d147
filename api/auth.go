package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Roles of API tokens. Each role includes the ones before it.
const (
	// RoleRead may use every GET route.
	RoleRead = "read"
	// RoleOperate may also fail over, drain, force and fail back.
	RoleOperate = "operate"
	// RoleAdmin may also apply specs, change membership and leadership,
	// and report views (the nodes' own calls).
	RoleAdmin = "admin"
)

// roleRank orders the roles; 0 is no role.
func roleRank(role string) int {
	switch role {
	case RoleRead:
		return 1
	case RoleOperate:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ValidRole reports whether role is read, operate or admin.
func ValidRole(role string) bool { return roleRank(role) > 0 }

// Anonymous is the actor of every request when authentication is off.
const Anonymous = "anonymous"

// Token is one API token: its name (the actor recorded in overrides and
// events), its role, and the secret a caller sends as
// "Authorization: Bearer <secret>".
type Token struct {
	Name, Role, Secret string
}

// authToken is a Token as the server keeps it: the SHA-256 digest of the
// secret, never the secret.
type authToken struct {
	name, role string
	digest     [sha256.Size]byte
}

// newAuth checks and digests the configured tokens.
func newAuth(ts []Token) ([]authToken, error) {
	var out []authToken
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]string{}
	for i, t := range ts {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("api: config: tokens[%d]: name is required", i)
		case names[t.Name]:
			return nil, fmt.Errorf("api: config: tokens[%d]: name %q is used twice", i, t.Name)
		case !ValidRole(t.Role):
			return nil, fmt.Errorf("api: config: tokens[%d] (%s): role %q is not read, operate or admin", i, t.Name, t.Role)
		case len(t.Secret) < MinSecretLen:
			return nil, fmt.Errorf("api: config: tokens[%d] (%s): secret must be at least %d bytes", i, t.Name, MinSecretLen)
		}
		d := sha256.Sum256([]byte(t.Secret))
		if other, dup := digests[d]; dup {
			return nil, fmt.Errorf("api: config: tokens[%d] (%s): same secret as token %s", i, t.Name, other)
		}
		names[t.Name], digests[d] = true, t.Name
		out = append(out, authToken{name: t.Name, role: t.Role, digest: d})
	}
	return out, nil
}

// MinSecretLen is the shortest token secret accepted.
const MinSecretLen = 16

// lookup returns the token whose secret is presented, comparing SHA-256
// digests in constant time and always comparing against every token.
func lookup(tokens []authToken, secret string) (authToken, bool) {
	d := sha256.Sum256([]byte(secret))
	var found authToken
	ok := 0
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

type actorKey struct{}

// actor returns the name of the caller's token, or Anonymous.
func actor(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return Anonymous
}

// errNoToken and errBadToken are the reasons of a 401.
var (
	errNoToken  = errors.New("this API requires a token: send Authorization: Bearer <token>")
	errBadToken = errors.New("the token is not valid on this node")
)

// authorize checks the request's bearer token against the role the route
// needs. It returns the request to serve (carrying the actor) or writes
// 401 or 403 and returns nil. Without tokens every request passes as
// Anonymous.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need string) *http.Request {
	if need == "" {
		return r
	}
	if len(s.tokens) == 0 {
		return r.WithContext(context.WithValue(r.Context(), actorKey{}, Anonymous))
	}
	h := r.Header.Get("Authorization")
	scheme, secret, _ := strings.Cut(h, " ")
	var why error
	switch {
	case h == "":
		why = errNoToken
	case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "":
		why = errors.New("the Authorization header must be Bearer <token>")
	}
	var t authToken
	if why == nil {
		var ok bool
		if t, ok = lookup(s.tokens, strings.TrimSpace(secret)); !ok {
			why = errBadToken
		}
	}
	if why != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="detour"`)
		writeError(w, &Error{StatusCode: http.StatusUnauthorized, Code: CodeUnauthorized, Message: why.Error()})
		return nil
	}
	if roleRank(t.role) < roleRank(need) {
		writeError(w, &Error{StatusCode: http.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("token %s has role %s; %s %s needs role %s", t.name, t.role, r.Method, r.URL.Path, need)})
		return nil
	}
	return r.WithContext(context.WithValue(r.Context(), actorKey{}, t.name))
}
