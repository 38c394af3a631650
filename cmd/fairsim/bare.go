package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runBare serves a bare net/http handler that answers 200 to everything:
// the physical limit of this machine for the shed-path comparison (wrk
// against it and against fairslot's refusals, in the same run). It stops
// after --for, or on a signal.
func runBare(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	listen := fs.String("addr", "127.0.0.1:18090", "loopback address to listen on")
	life := fs.Duration("for", 10*time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackOnly("http://" + *listen); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "bare net/http handler on http://%s for %v\n", ln.Addr(), *life)
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
