package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/fhir"
)

func init() {
	commands = append(commands, command{"fhir", "manage the FHIR facade's system clients: fhir clients add, list, revoke", runFHIR})
}

// runFHIR is `fairslot fhir clients add|list|revoke`: an admin registers a
// system (SMART Backend Services) with its public JWK set and the scopes
// it may be granted, on the server's host, as System, like `staff`.
func runFHIR(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: fairslot fhir clients <add|list|revoke> [flags] ..."
	if len(args) < 2 || args[0] != "clients" {
		return errors.New(usage)
	}
	sub := args[1]
	fs := flag.NewFlagSet("fhir clients "+sub, flag.ContinueOnError)
	var name, jwk, scopes *string
	switch sub {
	case "add":
		fs.Usage = func() {
			fmt.Fprintln(stderr, `usage: fairslot fhir clients add [flags] --name NAME --jwk FILE --scopes "system/Slot.rs system/Appointment.r"`)
			fs.PrintDefaults()
		}
		name = fs.String("name", "", "the system's name, for people")
		jwk = fs.String("jwk", "", "a file holding the client's public JWK set (JSON; RS384 or ES384 keys, each with a kid)")
		scopes = fs.String("scopes", "", "the SMART system scopes it may be granted, space-separated")
	case "list", "revoke":
	default:
		return fmt.Errorf("unknown fhir clients command %q (%s)", sub, usage)
	}
	c, err := loadConfig(fs, args[2:], stderr)
	if err != nil {
		return err
	}
	svc, st, err := openCurrent(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		return addFHIRClient(ctx, svc, *name, *jwk, *scopes, stdout)
	case "list":
		return listFHIRClients(ctx, svc, stdout)
	default:
		id, err := oneArg(fs, "client ID")
		if err != nil {
			return err
		}
		if err := svc.RevokeFHIRClient(ctx, app.System, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: revoked; its tokens stop working now\n", id)
		return nil
	}
}

func addFHIRClient(ctx context.Context, svc *app.Service, name, jwkFile, scopeList string, stdout io.Writer) error {
	if jwkFile == "" {
		return errors.New("--jwk FILE is required: the client's public JWK set")
	}
	jwks, err := os.ReadFile(jwkFile)
	if err != nil {
		return err
	}
	if err := fhir.CheckJWKS(jwks); err != nil {
		return err
	}
	scopes, err := fhir.ParseScopes(scopeList)
	if err != nil {
		return err
	}
	cl, err := svc.AddFHIRClient(ctx, app.System, name, jwks, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s\nclient_id: %s\nscopes: %s\n", cl.Name, cl.ID, strings.Join(cl.Scopes, " "))
	fmt.Fprintf(stdout, "The system gets tokens at %s%s with a private_key_jwt assertion (iss = sub = the client_id).\n", fhir.Prefix, fhir.TokenPath)
	return nil
}

func listFHIRClients(ctx context.Context, svc *app.Service, stdout io.Writer) error {
	list, err := svc.FHIRClients(ctx, app.System)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLIENT ID\tNAME\tSCOPES\tADDED\tSTATE")
	for _, c := range list {
		state := "active"
		if !c.RevokedAt.IsZero() {
			state = "revoked " + c.RevokedAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.Scopes, " "), c.CreatedAt.Format("2006-01-02 15:04"), state)
	}
	return w.Flush()
}
