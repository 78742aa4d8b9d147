// Package faults holds the network fault suite: three "detour server"
// processes, each in its own network namespace joined to a bridge by a
// veth pair (addresses in 198.18.0.0/24, no route out), HTTP backends in
// namespaces of their own, and a client namespace from which the tests
// query DNS and drive the admin API while they kill, pause, partition and
// degrade the nodes' links with nftables.
//
// The tests need root, ip and nft, and run only with DETOUR_FAULTS=1 (make
// test-faults); otherwise they skip with a message saying so, except that
// under CI=true a missing prerequisite fails them. DETOUR_BIN names a
// prebuilt binary to use instead of building one. docs/reliability.md
// describes the faults, the checks and the figures. The package has no
// non-test code and imports nothing of ours outside its tests.
package faults
