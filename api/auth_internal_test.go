package api

import (
	"crypto/sha256"
	"testing"
)

func TestAuth_DigestsOnly(t *testing.T) {
	ts, err := newAuth([]Token{{Name: "oncall", Role: RoleOperate, Secret: "operate-secret-0123456789"},
		{Name: "viewer", Role: RoleRead, Secret: "read-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte("operate-secret-0123456789")); ts[0].digest != want {
		t.Errorf("stored digest is not the SHA-256 of the secret")
	}
	for _, tc := range []struct {
		secret, want string
	}{
		{"operate-secret-0123456789", "oncall"},
		{"read-secret-0123456789", "viewer"},
		{"operate-secret-012345678", ""},   // a prefix
		{"operate-secret-01234567890", ""}, // longer
		{"", ""},
	} {
		got, ok := lookup(ts, tc.secret)
		if ok != (tc.want != "") || got.name != tc.want {
			t.Errorf("lookup(%q) = %q, %v; want %q", tc.secret, got.name, ok, tc.want)
		}
	}
	for _, r := range []struct {
		role string
		rank int
	}{{RoleRead, 1}, {RoleOperate, 2}, {RoleAdmin, 3}, {"superuser", 0}} {
		if got := roleRank(r.role); got != r.rank {
			t.Errorf("roleRank(%q) = %d, want %d", r.role, got, r.rank)
		}
	}
}
