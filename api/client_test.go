package api_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/detour-dns/detour/api"
)

func TestClient(t *testing.T) {
	leader := newFake("n1", true)
	lts := startServer(t, leader, nil)
	follower := newFake("n2", false)
	follower.leaderID, follower.leaderURL = "n1", lts.URL
	fts := startServer(t, follower, nil)

	c, err := api.NewClient(fts.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.NodeID != "n2" || st.LeaderID != "n1" {
		t.Errorf("Status = %+v, %v", st, err)
	}
	res, err := c.ApplySpec(ctx, exampleSpec(t), false)
	if err != nil || res.Version != 1 {
		t.Fatalf("ApplySpec through follower = %+v, %v", res, err)
	}
	// The follower's state does not change in this fake; read from the leader.
	lc, _ := api.NewClient(lts.URL, nil)
	doc, err := lc.Spec(ctx)
	if err != nil || doc.Version != 1 || len(doc.Spec.Zones) != 1 {
		t.Errorf("Spec = %+v, %v", doc, err)
	}
	y, v, err := lc.SpecYAML(ctx)
	if err != nil || v != 1 || !bytes.Contains(y, []byte("www.example.test.")) {
		t.Errorf("SpecYAML = %d %v %s", v, err, y)
	}
	if err := c.Join(ctx, api.JoinRequest{ID: "n3", RaftAddr: "127.0.0.1:3"}); err != nil {
		t.Errorf("Join: %v", err)
	}
	ms, err := lc.Members(ctx)
	if err != nil || len(ms) != 2 {
		t.Errorf("Members = %+v, %v", ms, err)
	}
	err = c.RemoveMember(ctx, "nobody")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != api.CodeUnknownMember {
		t.Errorf("RemoveMember(nobody) = %v", err)
	}
	if err := c.TransferLeadership(ctx, ""); err != nil {
		t.Errorf("TransferLeadership: %v", err)
	}

	bad := bytes.Replace(exampleSpec(t), []byte("policy: weighted"), []byte("policy: bogus"), 1)
	_, err = c.ApplySpec(ctx, bad, true)
	if !api.IsCode(err, api.CodeInvalidSpec) {
		t.Fatalf("ApplySpec(bad) = %v", err)
	}
	if msg := err.Error(); !bytes.Contains([]byte(msg), []byte("pools[1].policy: ")) {
		t.Errorf("client error does not list the problem with its path:\n%s", msg)
	}
	if _, err := api.NewClient("127.0.0.1:8053", nil); err == nil {
		t.Error("NewClient accepted a URL without scheme")
	}
}
