package faults

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/detour-dns/detour/api"
	"github.com/detour-dns/detour/internal/testutil"
	"github.com/detour-dns/detour/policy"
)

// The register under test is the value of the TXT record reg.example.test.
// in the spec, with the spec version: every write is a PUT /v1/spec of the
// fixture with a unique value, acknowledged with the version it became.

// regState is the model's state: the spec version and the register value.
type regState struct {
	version uint64
	value   string
}

// regInput is an operation: a write of value, or a read.
type regInput struct {
	write bool
	value string
}

// regOutput is what an operation returned. A write that failed or timed
// out is ambiguous (it may or may not have been applied): known is false
// and its return time is the end of the history.
type regOutput struct {
	known   bool
	version uint64
	value   string // reads only
}

// registerModel is a versioned register. A write carries the version it
// became (from the acknowledgement, or for an ambiguous write from a read
// that saw its value) and must raise the version; versions may skip, since
// an ambiguous write that no read saw is left out of the history and may
// still have taken a version. A read returns exactly the current version
// and value.
func registerModel(init regState) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(regState), input.(regInput), output.(regOutput)
			if in.write {
				if out.version <= s.version {
					return false, s
				}
				return true, regState{version: out.version, value: in.value}
			}
			return out.version == s.version && out.value == s.value, s
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(regInput), output.(regOutput)
			if in.write {
				if !out.known {
					return fmt.Sprintf("write(%s) -> ?", in.value)
				}
				return fmt.Sprintf("write(%s) -> v%d", in.value, out.version)
			}
			return fmt.Sprintf("read -> v%d %s", out.version, out.value)
		},
		DescribeState: func(state any) string {
			s := state.(regState)
			return fmt.Sprintf("v%d %s", s.version, s.value)
		},
	}
}

// sighting is a read of the register from one node, leader or not, for
// the divergence check: one version never carries two values.
type sighting struct {
	node    string
	version uint64
	value   string
}

// workload runs writers and readers against the cluster through the
// client namespace during one fault, recording a porcupine history.
type workload struct {
	c     *cluster
	phase string
	epoch time.Time

	mu        sync.Mutex
	ops       []porcupine.Operation
	sightings []sighting
	acked     int
	ambiguous int
	leaderRds int
	seq       int
	ackTimes  []time.Duration // how long each acknowledged write took
	// leaderSince is when each "node term N" was first seen leading.
	leaderSince map[string]time.Time
}

// Workload settings: two writers and one leader reader, each pausing
// briefly between operations; a write may take up to writeTimeout (the
// server bounds its own work at apply timeout + 2 s, well below).
const (
	writers      = 2
	writeTimeout = 12 * time.Second
	opPause      = 100 * time.Millisecond
)

func (w *workload) now() int64 { return int64(time.Since(w.epoch)) }

func (w *workload) add(op porcupine.Operation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, op)
}

// serving returns the nodes clients can reach now.
func (w *workload) serving() []*node {
	var out []*node
	for _, n := range w.c.nodes {
		if n.serving.Load() {
			out = append(out, n)
		}
	}
	return out
}

// write PUTs a new value through a random serving node.
func (w *workload) write(t testing.TB, client int) {
	ns := w.serving()
	if len(ns) == 0 {
		return
	}
	n := ns[rand.N(len(ns))]
	w.mu.Lock()
	w.seq++
	val := fmt.Sprintf("%s-c%d-%d", w.phase, client, w.seq)
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	call := w.now()
	res, err := w.c.client(t, n).ApplySpec(ctx, w.c.specWith(val), false)
	ret := w.now()
	op := porcupine.Operation{ClientId: client, Input: regInput{write: true, value: val}, Call: call}
	w.mu.Lock()
	if err != nil {
		w.ambiguous++
		op.Output, op.Return = regOutput{}, math.MaxInt64
	} else {
		w.acked++
		w.ackTimes = append(w.ackTimes, time.Duration(ret-call))
		op.Output, op.Return = regOutput{known: true, version: res.Version}, ret
	}
	w.mu.Unlock()
	w.add(op)
}

// readSpec reads the register from node n.
func (w *workload) readSpec(t testing.TB, n *node) (uint64, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d, err := w.c.client(t, n).Spec(ctx)
	if err != nil {
		return 0, "", err
	}
	v, err := register(d.Spec)
	return d.Version, v, err
}

// register returns the value of reg.example.test. TXT in spec.
func register(spec *policy.Spec) (string, error) {
	if spec == nil {
		return "", fmt.Errorf("no spec")
	}
	for _, z := range spec.Zones {
		for _, r := range z.Records {
			if (r.Name == "reg" || strings.HasPrefix(r.Name, "reg.")) && strings.EqualFold(r.Type, "TXT") && len(r.Values) == 1 {
				return r.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("the spec has no reg TXT record")
}

// leaderSettle is how long a node must have been seen leading the same
// term before its reads count as linearizable: a node that has just won
// an election serves its state before it has applied the tail of the
// previous term (the API's reads are local, with no barrier), which the
// suite saw as a read older than an acknowledged write after a leader
// change at shutdown.
const leaderSettle = 300 * time.Millisecond

// leaderRead reads from every serving node. A read counts in the history
// only when its node said it led, in the same term, both before and after
// the read, and had been seen leading that term for leaderSettle: a read
// that a deposed or brand-new leader might have answered from stale state
// is dropped. Every read is kept as a sighting for the divergence check
// (followers may be stale by design: "reads are answered by the node you
// ask").
func (w *workload) leaderRead(t testing.TB, client int) {
	for _, n := range w.serving() {
		before, err := w.c.status(t, n)
		if err != nil {
			continue
		}
		key := fmt.Sprintf("%s term %d", n.id, before.Term)
		w.mu.Lock()
		if w.leaderSince == nil {
			w.leaderSince = map[string]time.Time{}
		}
		since, seen := w.leaderSince[key]
		if before.Role == "leader" && !seen {
			since = time.Now()
			w.leaderSince[key] = since
		}
		w.mu.Unlock()
		call := w.now()
		ver, val, rerr := w.readSpec(t, n)
		ret := w.now()
		if rerr != nil {
			continue
		}
		w.mu.Lock()
		w.sightings = append(w.sightings, sighting{n.id, ver, val})
		w.mu.Unlock()
		if before.Role != "leader" || time.Since(since) < leaderSettle {
			continue
		}
		after, err := w.c.status(t, n)
		if err != nil || after.Role != "leader" || after.Term != before.Term {
			continue
		}
		w.add(porcupine.Operation{ClientId: client, Input: regInput{}, Call: call,
			Output: regOutput{known: true, version: ver, value: val}, Return: ret, Metadata: key})
		w.mu.Lock()
		w.leaderRds++
		w.mu.Unlock()
	}
}

// start runs the writers and the reader until stop is closed; the
// returned wait blocks until every one of them has finished its last
// operation.
func (w *workload) start(t testing.TB, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	loop := func(f func()) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(opPause): // pacing, not synchronisation
				}
				f()
			}
		})
	}
	for i := range writers {
		loop(func() { w.write(t, i) })
	}
	loop(func() { w.leaderRead(t, writers) })
	return wg.Wait
}

// settle ends a phase: one fence write through the leader (its commit in
// the leader's term settles every earlier entry: committed or never), then
// a read from every node once all have applied it. It returns the state
// the next phase starts from.
func (w *workload) settle(t *testing.T) regState {
	t.Helper()
	var fence api.ApplyResult
	val := w.phase + "-fence"
	testutil.WaitFor(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		call := w.now()
		res, err := w.c.client(t, w.c.nodes[rand.N(len(w.c.nodes))]).ApplySpec(ctx, w.c.specWith(val), false)
		if err != nil {
			w.mu.Lock()
			w.ambiguous++
			w.mu.Unlock()
			w.add(porcupine.Operation{ClientId: writers + 1, Input: regInput{write: true, value: val}, Call: call,
				Output: regOutput{}, Return: math.MaxInt64})
			val += "'"
			return false
		}
		fence = res
		w.add(porcupine.Operation{ClientId: writers + 1, Input: regInput{write: true, value: val}, Call: call,
			Output: regOutput{known: true, version: res.Version}, Return: w.now()})
		return true
	}, "the fence write of %s", w.phase)
	final := regState{}
	for _, n := range w.c.nodes {
		testutil.WaitFor(t, 20*time.Second, func() bool {
			call := w.now()
			ver, v, err := w.readSpec(t, n)
			if err != nil || ver < fence.Version {
				return false
			}
			w.add(porcupine.Operation{ClientId: writers + 2, Input: regInput{}, Call: call,
				Output: regOutput{known: true, version: ver, value: v}, Return: w.now(), Metadata: "final read from " + n.id})
			w.mu.Lock()
			w.sightings = append(w.sightings, sighting{n.id, ver, v})
			w.mu.Unlock()
			final = regState{ver, v}
			return true
		}, "%s to apply the fence write (version %d)", n.id, fence.Version)
	}
	return final
}

// check runs porcupine on the history from init and the divergence check
// on the sightings. It returns a one-line verdict.
func (w *workload) check(t *testing.T, init regState) string {
	t.Helper()
	w.mu.Lock()
	ops := slices.Clone(w.ops)
	sights := slices.Clone(w.sightings)
	acked, amb, lr := w.acked, w.ambiguous, w.leaderRds
	w.mu.Unlock()
	// An ambiguous write that some read saw was applied, with the version
	// that read saw (values are unique); one that no read saw is left
	// out: whether it happened changes no read.
	seen := map[string]uint64{}
	for _, s := range sights {
		seen[s.value] = s.version
	}
	for _, op := range ops {
		if in, out := op.Input.(regInput), op.Output.(regOutput); !in.write && out.known {
			seen[out.value] = out.version
		}
	}
	kept := ops[:0:0]
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		if in.write && !out.known {
			v, ok := seen[in.value]
			if !ok {
				continue
			}
			op.Output = regOutput{known: true, version: v}
		}
		kept = append(kept, op)
	}
	ops = kept
	res, info := porcupine.CheckOperationsVerbose(registerModel(init), ops, 60*time.Second)
	verdict := fmt.Sprintf("%s (%d ops: %d writes acked, %d ambiguous, %d leader reads)", res, len(ops), acked, amb, lr)
	if res != porcupine.Ok {
		if dir, err := os.MkdirTemp("", "detour-faults-porcupine-"); err == nil {
			path := filepath.Join(dir, w.phase+".html")
			if err := porcupine.VisualizePath(registerModel(init), info, path); err == nil {
				t.Logf("porcupine visualisation of %s: %s", w.phase, path)
			}
		}
		t.Errorf("%s: the history is not linearizable: %s\nfrom v%d %s; %s", w.phase, verdict, init.version, init.value, regression(ops))
	}
	// One version, one value: across every node's reads and the
	// acknowledged writes.
	byVersion := map[uint64]string{init.version: init.value}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		if in.write && out.known {
			byVersion[out.version] = in.value
		}
	}
	for _, s := range sights {
		if v, ok := byVersion[s.version]; ok && v != s.value {
			t.Errorf("%s: %s shows version %d with %q, but that version is %q", w.phase, s.node, s.version, s.value, v)
		}
		byVersion[s.version] = s.value
	}
	return verdict
}

// regression finds the first operation that saw an older version than
// one that had already returned (a stale read or a reused version) and
// lists the operations around it, in call order, times in ms since the
// suite began.
func regression(ops []porcupine.Operation) string {
	ops = slices.Clone(ops)
	slices.SortFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	version := func(op porcupine.Operation) (uint64, bool) {
		out := op.Output.(regOutput)
		return out.version, out.known
	}
	at := -1
	var why string
	for i, b := range ops {
		vb, ok := version(b)
		if !ok {
			continue
		}
		for _, a := range ops[:i] {
			// Older than something already returned, or a write taking a
			// version already seen.
			if va, ok := version(a); ok && a.Return < b.Call && (va > vb || va == vb && b.Input.(regInput).write) {
				at, why = i, fmt.Sprintf("an operation that began at %d ms saw v%d after one that ended at %d ms saw v%d", b.Call/1e6, vb, a.Return/1e6, va)
				break
			}
		}
		if at >= 0 {
			break
		}
	}
	if at < 0 {
		return "no version regression found: the violation is in the values"
	}
	m := registerModel(regState{})
	var sb strings.Builder
	sb.WriteString(why + ":\n")
	for _, op := range ops[max(0, at-20):min(len(ops), at+5)] {
		ret := "?"
		if op.Return != math.MaxInt64 {
			ret = fmt.Sprint(op.Return / 1e6)
		}
		meta := ""
		if op.Metadata != nil {
			meta = fmt.Sprintf(" (%v)", op.Metadata)
		}
		fmt.Fprintf(&sb, "  [%d, %s] client %d: %s%s\n", op.Call/1e6, ret, op.ClientId, m.DescribeOperation(op.Input, op.Output), meta)
	}
	return sb.String()
}

// writeP50 returns the median time of the acknowledged writes (0 when
// none).
func (w *workload) writeP50() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ackTimes) == 0 {
		return 0
	}
	d := slices.Clone(w.ackTimes)
	slices.Sort(d)
	return d[len(d)/2]
}
