// Package daemontest runs full detour daemons (Raft over loopback TCP,
// DNS, admin API, all on 127.0.0.1 with ports picked by the kernel) inside
// a test process, in clusters of any size, with stop, restart from disk
// and waits on leadership and spec versions. It is imported only by tests.
package daemontest
