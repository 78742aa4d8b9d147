package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/detour-dns/detour/api"
)

// FuzzAPIInput sends arbitrary bodies to the write endpoints (and an
// arbitrary after= to the events). Every answer
// must be a 2xx or 4xx with a JSON body (an error object for 4xx); never a
// 5xx, a panic or a non-JSON body.
func FuzzAPIInput(f *testing.F) {
	spec, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), spec)
	f.Add(uint8(0), []byte("zones: [\n"))
	f.Add(uint8(0), []byte(`{"zones": [{"name": "x."}]}`))
	f.Add(uint8(1), []byte(`{"id":"n2","raft_addr":"127.0.0.1:1"}`))
	f.Add(uint8(1), []byte(`{"id":3}`))
	f.Add(uint8(1), []byte(`[1,2]`))
	f.Add(uint8(2), []byte(`{"id":"n1"}`))
	f.Add(uint8(2), []byte(`null`))
	f.Add(uint8(4), []byte(`{"node":"n1","full":true,"views":[{"pool":"www.example.test.","endpoint":"us-east-1","evidence":[{"duration":"1ms","ok":false}]}]}`))
	f.Add(uint8(4), []byte(`{"node":"n1","views":[{"pool":""}]}`))
	f.Add(uint8(4), []byte(`{"node":"n1","views":[{"pool":"p","endpoint":"e","evidence":[{"duration":"soon"}]}]}`))
	f.Add(uint8(5), []byte(`18446744073709551615`))
	f.Add(uint8(5), []byte(`-1&limit=5`))

	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		fc := newFake("n1", true)
		s, err := api.New(api.Config{NodeID: "n1"}, fc)
		if err != nil {
			t.Fatal(err)
		}
		var req *http.Request
		switch which % 6 {
		case 0:
			req = httptest.NewRequest("PUT", "/v1/spec", bytes.NewReader(body))
		case 1:
			req = httptest.NewRequest("POST", "/v1/members", bytes.NewReader(body))
		case 2:
			req = httptest.NewRequest("POST", "/v1/leadership/transfer", bytes.NewReader(body))
		case 4:
			req = httptest.NewRequest("POST", "/v1/views", bytes.NewReader(body))
		case 5:
			req = httptest.NewRequest("GET", "/v1/events?after="+url.QueryEscape(string(body)), nil)
		default:
			req = httptest.NewRequest("PUT", "/v1/spec?dry_run=true", bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a non-JSON body for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var eb struct {
				Error *api.Error `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}
