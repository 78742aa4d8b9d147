package policy

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func intp(i int) *int { return &i }

func TestAnswerPool(t *testing.T) {
	eps := func(prio ...int) []Endpoint {
		var out []Endpoint
		for i, p := range prio {
			out = append(out, Endpoint{Name: string(rune('a' + i)), Priority: p})
		}
		return out
	}
	tests := []struct {
		name      string
		pool      Pool
		down      []string
		want      []string
		wantW     []int
		wantAllDn bool
	}{
		{"failover: all healthy, best tier only", Pool{Policy: PolicyFailover, Endpoints: eps(1, 2, 1)}, nil, []string{"a", "c"}, nil, false},
		{"failover: primary down, secondary answers", Pool{Policy: PolicyFailover, Endpoints: eps(1, 2, 3)}, []string{"a"}, []string{"b"}, nil, false},
		{"failover: one of the best tier down", Pool{Policy: PolicyFailover, Endpoints: eps(1, 1, 2)}, []string{"b"}, []string{"a"}, nil, false},
		{"failover: all down, serve_all answers the best tier", Pool{Policy: PolicyFailover, Endpoints: eps(2, 1)}, []string{"a", "b"}, []string{"b"}, nil, true},
		{"failover: all down, serve_none answers nothing", Pool{Policy: PolicyFailover, WhenAllDown: AllDownServeNone, Endpoints: eps(1, 2)}, []string{"a", "b"}, nil, nil, true},
		{"weighted: zero weight is never a candidate", Pool{Policy: PolicyWeighted, Endpoints: []Endpoint{{Name: "a", Weight: intp(70)}, {Name: "b", Weight: intp(0)}, {Name: "c", Weight: intp(30)}}}, nil, []string{"a", "c"}, []int{70, 30}, false},
		{"weighted: down endpoint dropped", Pool{Policy: PolicyWeighted, Endpoints: []Endpoint{{Name: "a", Weight: intp(70)}, {Name: "b", Weight: intp(30)}}}, []string{"a"}, []string{"b"}, []int{30}, false},
		{"weighted: all down, serve_all", Pool{Policy: PolicyWeighted, Endpoints: []Endpoint{{Name: "a", Weight: intp(70)}, {Name: "b", Weight: intp(30)}}}, []string{"a", "b"}, []string{"a", "b"}, []int{70, 30}, true},
		{"multivalue: all healthy", Pool{Policy: PolicyMultivalue, Endpoints: eps(0, 0, 0)}, []string{"b"}, []string{"a", "c"}, nil, false},
		{"multivalue: at most 8", Pool{Policy: PolicyMultivalue, Endpoints: eps(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)}, nil, []string{"a", "b", "c", "d", "e", "f", "g", "h"}, nil, false},
		{"multivalue: all down, serve_none", Pool{Policy: PolicyMultivalue, WhenAllDown: AllDownServeNone, Endpoints: eps(0, 0)}, []string{"a", "b"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			down := map[string]bool{}
			for _, d := range tt.down {
				down[d] = true
			}
			got := AnswerPool(&tt.pool, func(ep *Endpoint) bool { return !down[ep.Name] })
			var names []string
			for _, ep := range got.Endpoints {
				names = append(names, ep.Name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantW, got.Weights); diff != "" {
				t.Errorf("weights (-want +got):\n%s", diff)
			}
			if got.AllDown != tt.wantAllDn {
				t.Errorf("AllDown = %v, want %v", got.AllDown, tt.wantAllDn)
			}
		})
	}
}

func TestPoolAnswer_PickProportions(t *testing.T) {
	p := Pool{Policy: PolicyWeighted, Endpoints: []Endpoint{{Name: "a", Weight: intp(70)}, {Name: "b", Weight: intp(20)}, {Name: "c", Weight: intp(10)}}}
	a := AnswerPool(&p, func(*Endpoint) bool { return true })
	if a.TotalWeight() != 100 {
		t.Fatalf("TotalWeight = %d, want 100", a.TotalWeight())
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100000
	counts := make([]int, len(a.Endpoints))
	for range n {
		counts[a.Pick(r.IntN(a.TotalWeight()))]++
	}
	for i, w := range a.Weights {
		got := float64(counts[i]) / n
		want := float64(w) / 100
		if got < want-0.01 || got > want+0.01 {
			t.Errorf("endpoint %s picked %.3f of the time, want %.2f±0.01", a.Endpoints[i].Name, got, want)
		}
	}
}

func TestPoolAnswer_PickEdges(t *testing.T) {
	var empty PoolAnswer
	if got := empty.Pick(0); got != -1 {
		t.Errorf("Pick on empty answer = %d, want -1", got)
	}
	a := PoolAnswer{Endpoints: []*Endpoint{{Name: "a"}, {Name: "b"}}, Weights: []int{1, 3}}
	for r, want := range []int{0, 1, 1, 1} {
		if got := a.Pick(r); got != want {
			t.Errorf("Pick(%d) = %d, want %d", r, got, want)
		}
	}
}

func TestState_PoolAnswer(t *testing.T) {
	s := &State{}
	p := Pool{Name: "www.example.test.", Policy: PolicyFailover, Endpoints: []Endpoint{{Name: "a", Priority: 2}, {Name: "b", Priority: 1}}}
	got := s.PoolAnswer(&p)
	if len(got.Endpoints) != 1 || got.Endpoints[0].Name != "b" || got.AllDown {
		t.Errorf("PoolAnswer = %+v, want only endpoint b", got)
	}
}
