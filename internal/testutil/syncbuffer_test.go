package testutil

import (
	"strings"
	"sync"
	"testing"
)

func TestSyncBuffer_ConcurrentWritesAndReads(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := b.Write([]byte("x\n")); err != nil {
					t.Error(err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 400 {
		t.Fatalf("buffer holds %d lines, want 400", got)
	}
}
