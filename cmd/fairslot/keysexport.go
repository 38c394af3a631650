package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/fairslot/fairslot/internal/backup"
)

func init() {
	keysCommands["export"] = keysCommand{
		usage: "keys export --to FILE [--recipient AGE_PUBKEY ...]   write the keyset and its key files, encrypted to the backup recipients and signed",
		run:   runKeysExport,
	}
}

// runKeysExport writes the keyset export restore --keys takes: keep it
// apart from the data archives, since together they are everything.
func runKeysExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys export", flag.ContinueOnError)
	to := fs.String("to", "", "file to write (it must not exist; its signature is FILE.sig)")
	var recips stringList
	fs.Var(&recips, "recipient", "encrypt to this age public key (age1...; repeatable; config backup.recipients are added)")
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if *to == "" {
		return errors.New("keys export: --to FILE is required")
	}
	recipients, err := backupRecipients(&c, recips)
	if err != nil {
		return err
	}
	key, err := backupKey(c)
	if err != nil {
		return err
	}
	if err := backup.ExportKeys(c.Keyset, recipients, key, *to, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keyset export %s (signature %s.sig), encrypted to %d recipients: keep it apart from the data archives\n", *to, *to, len(recipients))
	return nil
}
