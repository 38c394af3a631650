package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/fairslot/fairslot/internal/app"
)

// runStaffScope is `fairslot staff scope USER --doctor N | --campus N |
// --department N | --clear`: link a doctor's login to their doctor record
// (they act on its sessions only; an unlinked doctor acts on none) and
// scope a nurse's or desk's login to a campus or department. Flags not
// given keep their value; 0 clears one; --clear clears all three.
func init() {
	staffCommands["scope"] = staffCommand{
		usage: "staff scope USERNAME [--doctor N] [--campus N] [--department N] | --clear",
		whole: runStaffScope,
	}
}

func runStaffScope(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: fairslot staff scope USER [--doctor N] [--campus N] [--department N] | --clear"
	fs := flag.NewFlagSet("staff scope", flag.ContinueOnError)
	doctor := fs.Int64("doctor", -1, "link to this doctor record (0: unlink)")
	campus := fs.Int64("campus", -1, "work only at this campus (0: everywhere)")
	department := fs.Int64("department", -1, "work only in this department (0: everywhere)")
	clear := fs.Bool("clear", false, "remove the doctor link, campus and department")
	var user string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		user, args = args[0], args[1:]
	}
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if user == "" && fs.NArg() == 1 {
		user = fs.Arg(0)
	} else if fs.NArg() != 0 || user == "" {
		return errors.New(usage)
	}
	set := *doctor >= 0 || *campus >= 0 || *department >= 0
	if set == *clear {
		return errors.New(usage + " (give at least one of --doctor, --campus, --department, or --clear alone)")
	}
	svc, st, err := openCurrent(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	staff, err := svc.SetStaffScope(ctx, app.System, user, func(sc *app.Scope) {
		if *clear {
			*sc = app.Scope{}
		}
		for _, f := range []struct {
			v   int64
			dst *int64
		}{{*doctor, &sc.DoctorID}, {*campus, &sc.CampusID}, {*department, &sc.DepartmentID}} {
			if f.v >= 0 {
				*f.dst = f.v
			}
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s): doctor %d, campus %d, department %d (0: none)\n", staff.Username, staff.Role, staff.DoctorID, staff.CampusID, staff.DepartmentID)
	return nil
}
