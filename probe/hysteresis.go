package probe

// verdictState is a node's local verdict about one endpoint.
type verdictState int8

const (
	// stateUnknown: neither Rise successes nor Fall failures in a row yet.
	stateUnknown verdictState = iota
	stateHealthy
	stateUnhealthy
)

// hysteresis turns a sequence of probe outcomes into a verdict that flips
// only after rise successes or fall failures in a row. The zero value has
// no verdict; rise and fall below 1 count as 1.
type hysteresis struct {
	rise, fall int
	okRun      int // successes in a row, ending with the last result
	failRun    int // failures in a row, ending with the last result
	state      verdictState
}

// observe records one outcome and reports whether the verdict changed
// (including the first verdict after unknown).
func (h *hysteresis) observe(ok bool) bool {
	if ok {
		h.okRun++
		h.failRun = 0
		if h.state != stateHealthy && h.okRun >= max(h.rise, 1) {
			h.state = stateHealthy
			return true
		}
		return false
	}
	h.failRun++
	h.okRun = 0
	if h.state != stateUnhealthy && h.failRun >= max(h.fall, 1) {
		h.state = stateUnhealthy
		return true
	}
	return false
}

// run returns how many results in a row made the current verdict.
func (h *hysteresis) run() int { return max(h.okRun, h.failRun) }
