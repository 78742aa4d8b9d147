package probe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHysteresis(t *testing.T) {
	const (
		u = stateUnknown
		H = stateHealthy
		D = stateUnhealthy
	)
	tests := []struct {
		name       string
		rise, fall int
		results    string // o = success, x = failure
		want       []verdictState
		wantFlips  []bool
	}{
		{"unknown until rise", 3, 2, "ooo", []verdictState{u, u, H}, []bool{false, false, true}},
		{"unknown until fall", 3, 2, "xx", []verdictState{u, D}, []bool{false, true}},
		{"interrupted run stays unknown", 2, 2, "oxoxo", []verdictState{u, u, u, u, u}, []bool{false, false, false, false, false}},
		{"fall after healthy", 1, 3, "oxxx", []verdictState{H, H, H, D}, []bool{true, false, false, true}},
		{"flapping below fall keeps healthy", 1, 3, "oxxoxxo", []verdictState{H, H, H, H, H, H, H}, []bool{true, false, false, false, false, false, false}},
		{"rise after unhealthy", 2, 1, "xooo", []verdictState{D, D, H, H}, []bool{true, false, true, false}},
		{"success resets failure run", 2, 2, "ooxoxx", []verdictState{u, H, H, H, H, D}, []bool{false, true, false, false, false, true}},
		{"rise and fall of 1 follow every result", 1, 1, "oxox", []verdictState{H, D, H, D}, []bool{true, true, true, true}},
		{"zero thresholds count as 1", 0, 0, "ox", []verdictState{H, D}, []bool{true, true}},
		{"long run flips once", 2, 2, "xxxxx", []verdictState{u, D, D, D, D}, []bool{false, true, false, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hysteresis{rise: tc.rise, fall: tc.fall}
			var got []verdictState
			var flips []bool
			for _, c := range tc.results {
				flips = append(flips, h.observe(c == 'o'))
				got = append(got, h.state)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantFlips, flips); diff != "" {
				t.Errorf("flips (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRing(t *testing.T) {
	r := ring{buf: make([]Result, 3)}
	if got := r.last(5); len(got) != 0 {
		t.Fatalf("empty ring: got %d results", len(got))
	}
	for i := 1; i <= 5; i++ {
		r.add(Result{Status: i})
	}
	status := func(rs []Result) []int {
		var s []int
		for _, r := range rs {
			s = append(s, r.Status)
		}
		return s
	}
	if diff := cmp.Diff([]int{3, 4, 5}, status(r.last(10))); diff != "" {
		t.Errorf("last(10) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{4, 5}, status(r.last(2))); diff != "" {
		t.Errorf("last(2) (-want +got):\n%s", diff)
	}
	got := r.last(3)
	got[0].Status = 99
	if r.last(3)[0].Status != 3 {
		t.Error("last returned the ring's own storage")
	}
}
