// Package demo runs detour's one-command demo: three nodes in one process,
// three demo regional backends and the example spec, with a guide printed
// for the person watching.
//
// Run starts everything on the loopback interface: the nodes (DNS, API and
// Raft on free ports of 127.0.0.1, data in a temporary directory), HTTP
// backends for us-east-1, eu-west-1 and ap-south-1 on 127.0.0.11, .12 and .13
// (port 18080 unless Options.BackendPort says otherwise; the spec's check
// ports are rewritten to match), and a control endpoint (127.0.0.1:18081 by
// default) through which Break and Heal, called from another process such
// as "detour demo break us-east-1", stop and restart a backend. It applies
// the example spec (a copy of policy/testdata/example.yaml, embedded),
// prints the guide, streams the cluster's events until its context ends,
// then stops everything and removes the temporary directory unless
// Options.Keep.
//
// demo imports internal/daemon, api, config and policy; only cmd/detour
// imports it.
package demo
