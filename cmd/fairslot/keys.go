package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
)

func init() {
	commands = append(commands, command{"keys", "the keyset: " + keysSummary(), runKeys})
}

// keysCommand is one `fairslot keys` subcommand; each parses its own
// arguments. Another file's work (export, say) adds its entry in its init.
type keysCommand struct {
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var keysCommands = map[string]keysCommand{}

func keysSummary() string { return "rotate, promote, status, rekey, prune, wrap, unwrap, export" }

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if c, ok := keysCommands[args[0]]; ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage:")
	for _, name := range slices.Sorted(maps.Keys(keysCommands)) {
		fmt.Fprintln(stderr, "  fairslot", keysCommands[name].usage)
	}
	if len(args) == 0 {
		return fmt.Errorf("keys: a subcommand is required")
	}
	return fmt.Errorf("keys: unknown subcommand %q", args[0])
}
