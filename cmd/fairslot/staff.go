package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/config"
)

func init() {
	commands = append(commands, command{"staff", "manage staff accounts: add, list, passwd, disable, enable, reset-mfa, unlock", runStaff})
}

// staffCommand is one `fairslot staff` subcommand. It runs on the server's
// host against the configured database as System: whoever may run it
// already holds the keyset and the database. This is how the first admin
// is made.
type staffCommand struct {
	usage string
	run   func(ctx context.Context, svc *app.Service, fs *flag.FlagSet, stdout io.Writer) error
	flags func(fs *flag.FlagSet) // the subcommand's own flags, if any
	// whole, when set, is a subcommand that parses its own arguments and
	// opens the store itself (staff scope: USER may come before the flags).
	whole func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// staffCommands is the subcommand table; another package's work (staff
// scope, say) adds its entry in its own file's init.
var staffCommands = map[string]staffCommand{
	"add": {
		usage: "staff add [flags] --role ROLE --name NAME USERNAME   (the password is read from standard input or a prompt)",
		flags: func(fs *flag.FlagSet) {
			fs.String("role", "", "registrar, nurse, doctor, admin, security or kiosk")
			fs.String("name", "", "the person's (or device's) name")
		},
		run: func(ctx context.Context, svc *app.Service, fs *flag.FlagSet, stdout io.Writer) error {
			user, err := oneArg(fs, "USERNAME")
			if err != nil {
				return err
			}
			st := fairslot.Staff{Username: user, Name: fs.Lookup("name").Value.String(), Role: fairslot.Role(fs.Lookup("role").Value.String())}
			pw, err := readPassword(stdout, "New password for "+user+": ")
			if err != nil {
				return err
			}
			code, err := svc.AddStaff(ctx, app.System, &st, pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added %s (id %d, %s)\n", st.Username, st.ID, st.Role)
			printEnrolCode(stdout, user, code)
			return nil
		},
	},
	"list": {
		usage: "staff list",
		run: func(ctx context.Context, svc *app.Service, fs *flag.FlagSet, stdout io.Writer) error {
			list, err := svc.StaffAccounts(ctx, app.System)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tSECOND FACTOR\tRECOVERY LEFT\tSTATE")
			for _, a := range list {
				factor, state := "not enrolled", "active"
				if a.Enrolled {
					factor = "totp"
				}
				switch {
				case a.Disabled && a.Locked:
					state = "disabled, locked"
				case a.Disabled:
					state = "disabled"
				case a.Locked:
					state = "locked since " + a.LockedAt.Format("2006-01-02 15:04")
				}
				if !a.Enrolled {
					factor = "not enrolled (no enrolment code)"
					if !a.EnrolBy.IsZero() {
						factor = "not enrolled (code until " + a.EnrolBy.Format("2006-01-02 15:04") + ")"
					}
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.Username, a.Role, factor, a.RecoveryLeft, state)
			}
			return w.Flush()
		},
	},
	"passwd":  byUsername("staff passwd USERNAME   (the password is read from standard input or a prompt)", "new password set; the account's sessions ended", nil),
	"disable": byUsername("staff disable USERNAME", "disabled; its sessions ended", (*app.Service).DisableStaff),
	"enable":  byUsername("staff enable USERNAME", "enabled", (*app.Service).EnableStaff),
	"reset-mfa": {usage: "staff reset-mfa USERNAME   (prints the new enrolment code, once)",
		run: func(ctx context.Context, svc *app.Service, fs *flag.FlagSet, stdout io.Writer) error {
			st, err := namedStaff(ctx, svc, fs)
			if err != nil {
				return err
			}
			code, err := svc.ResetStaffMFA(ctx, app.System, st.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: second factor reset (sessions ended); it is set up again at the next sign-in\n", st.Username)
			printEnrolCode(stdout, st.Username, code)
			return nil
		},
	},
	"unlock": byUsername("staff unlock USERNAME", "unlocked", (*app.Service).UnlockStaff),
}

// byUsername is a subcommand that changes the account named by its one
// argument; a nil change is passwd.
func byUsername(usage, done string, change func(*app.Service, context.Context, app.Actor, int64) error) staffCommand {
	return staffCommand{usage: usage, run: func(ctx context.Context, svc *app.Service, fs *flag.FlagSet, stdout io.Writer) error {
		st, err := namedStaff(ctx, svc, fs)
		if err != nil {
			return err
		}
		user := st.Username
		if change == nil {
			var pw string
			if pw, err = readPassword(stdout, "New password for "+user+": "); err != nil {
				return err
			}
			err = svc.SetStaffPassword(ctx, app.System, st.ID, pw)
		} else {
			err = change(svc, ctx, app.System, st.ID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", user, done)
		return nil
	}}
}

// printEnrolCode shows an enrolment code this once: it is stored only as a
// keyed hash, so a lost one is replaced with reset-mfa.
func printEnrolCode(w io.Writer, user string, code app.EnrolCode) {
	fmt.Fprintf(w, "enrolment code: %s   (valid until %s; shown only now)\n", code.Code, code.ExpiresAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Hand it to %s in person or by a channel other than the password's: the first sign-in needs the password and this code.\n", user)
}

// staffPolicy is the staff sign-in policy of a configuration.
func staffPolicy(c config.Config) app.StaffAuthPolicy {
	return app.StaffAuthPolicy{SessionMax: time.Duration(c.Staff.SessionMax), SessionIdle: time.Duration(c.Staff.SessionIdle),
		LockAfter: c.Staff.LockAfter, LockWindow: time.Duration(c.Staff.LockWindow), EnrolCodeTTL: time.Duration(c.Staff.EnrolCodeTTL)}
}

// namedStaff is the account named by a subcommand's one argument.
func namedStaff(ctx context.Context, svc *app.Service, fs *flag.FlagSet) (fairslot.Staff, error) {
	user, err := oneArg(fs, "USERNAME")
	if err != nil {
		return fairslot.Staff{}, err
	}
	return svc.StaffByUsername(ctx, app.System, user)
}

func oneArg(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("want exactly one %s", what)
	}
	return fs.Arg(0), nil
}

// stdin is where passwords are read; tests replace it.
var stdin io.Reader = os.Stdin

// readPassword reads a password: with a prompt and no echo on a terminal
// (asked twice), else the first line of standard input. Never a flag: a
// flag is in the shell's history and in every process listing.
func readPassword(prompt io.Writer, label string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, label)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input; nothing was changed")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// runStaff is `fairslot staff SUBCOMMAND`.
func runStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	names := slices.Sorted(maps.Keys(staffCommands))
	if len(args) == 0 {
		return fmt.Errorf("usage: fairslot staff <%s> [flags] ...", strings.Join(names, "|"))
	}
	sc, ok := staffCommands[args[0]]
	if !ok {
		return fmt.Errorf("unknown staff command %q (%s)", args[0], strings.Join(names, ", "))
	}
	if sc.whole != nil {
		return sc.whole(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("staff "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: fairslot "+sc.usage); fs.PrintDefaults() }
	if sc.flags != nil {
		sc.flags(fs)
	}
	c, err := loadConfig(fs, args[1:], stderr)
	if err != nil {
		return err
	}
	svc, st, err := openCurrent(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	svc.StaffAuth = staffPolicy(c)
	return sc.run(ctx, svc, fs, stdout)
}
