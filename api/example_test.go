package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/detour-dns/detour/api"
)

// A client applies a spec through any node and reads the cluster's status.
func ExampleClient() {
	// A stand-in for a running node; use the node's API URL instead.
	s, _ := api.New(api.Config{NodeID: "node1"}, newFake("node1", true))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	ctx := context.Background()
	c, err := api.NewClient(ts.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	spec, _ := os.ReadFile("testdata/example.yaml")
	res, err := c.ApplySpec(ctx, spec, false)
	if err != nil {
		fmt.Println(err) // an *api.Error listing every problem with its path
		return
	}
	fmt.Println("applied spec version", res.Version)

	st, _ := c.Status(ctx)
	fmt.Println(st.NodeID, st.Role, "spec version", st.SpecVersion)
	// Output:
	// applied spec version 1
	// node1 leader spec version 1
}
