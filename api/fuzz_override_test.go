package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/detour-dns/detour/api"
)

// FuzzOverrideInput sends arbitrary bodies to the override routes of a
// state where www's us-east-1 is down. Every answer is 200 (and then the
// state moved on) or a 4xx error object (and then the state is the same
// one); never a 5xx or a panic.
func FuzzOverrideInput(f *testing.F) {
	for _, b := range []string{`{"to":"eu-west-1"}`, `{"to":"us-east-1","require_healthy":true}`, `{"to":"x","expires_in":"2h"}`,
		`{"state":"down"}`, `{"state":"up","expires_in":"-1s"}`, `{"force":true}`, `{"reason":"` + string(bytes.Repeat([]byte("r"), 1100)) + `"}`,
		`{"expires_in":"1e9h"}`, `[]`, `null`, ``} {
		for w := range 6 {
			f.Add(uint8(w), []byte(b))
		}
	}
	st := healthState(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		fc := newFake("n1", true)
		fc.state = st
		s, err := api.New(api.Config{NodeID: "n1"}, fc)
		if err != nil {
			t.Fatal(err)
		}
		paths := []struct{ method, path string }{
			{"POST", "/v1/pools/www.example.test./failover"},
			{"DELETE", "/v1/pools/www.example.test./failover"},
			{"POST", "/v1/pools/www.example.test./endpoints/eu-west-1/drain"},
			{"POST", "/v1/pools/www.example.test./endpoints/eu-west-1/force"},
			{"POST", "/v1/pools/api.example.test./endpoints/us-east-1/force"},
			{"POST", "/v1/pools/www.example.test./failback"},
		}
		p := paths[int(which)%len(paths)]
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(p.method, p.path, bytes.NewReader(body)))
		switch {
		case rec.Code == 200:
			if fc.State() == st {
				t.Fatalf("200 without a change for %s %s %q", p.method, p.path, body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var eb struct {
				Error *api.Error `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", rec.Code, rec.Body.Bytes())
			}
			if fc.State() != st {
				t.Fatalf("status %d changed the state for %s %s %q", rec.Code, p.method, p.path, body)
			}
		default:
			t.Fatalf("status %d for %s %s %q: %s", rec.Code, p.method, p.path, body, rec.Body.Bytes())
		}
	})
}
