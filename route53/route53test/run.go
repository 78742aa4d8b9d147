package route53test

import (
	"context"
	"fmt"
)

// Run serves a stand-in on addr until ctx is done, then shuts it down. It
// is the body of the CLI's stand-in command: opts.Zones are created first,
// and the listening address is logged to opts.Logger ("listening", key
// "addr"), so that addr may be "127.0.0.1:0". opts.Addr is ignored.
func Run(ctx context.Context, addr string, opts Options) error {
	opts.Addr = addr
	s, err := New(opts)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	if err := s.Close(); err != nil {
		return fmt.Errorf("route53test: stop: %w", err)
	}
	return nil
}
