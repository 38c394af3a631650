package app_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// unkeyed lists the errors of this package that may stay without a
// catalogue key although their kind is one a person can act on: no page
// can meet them, so only their English message is ever read. Each is named
// by its file and its format string.
var unkeyed = map[[2]string]string{
	// The Idempotency-Key header: only API clients send it; the pages
	// make their own keys.
	{"bookings.go", "Idempotency-Key must be at most 128 characters"}:                                         "API header",
	{"bookings.go", "this Idempotency-Key was used for a different booking request"}:                          "API header",
	{"payments.go", "an Idempotency-Key header of 1 to 128 characters is required to pay"}:                    "API header",
	{"payments.go", "this Idempotency-Key was used to pay another booking"}:                                   "API header",
	{"fhirclients.go", "a FHIR client needs a name of at most 200 bytes"}:                                     "operator CLI (fairslot fhir-client)",
	{"fhirbook.go", "only a FHIR system client books for a patient by identity"}:                              "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirbook.go", "only a FHIR system client acts on a booking it made"}:                                    "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirsubscriptions.go", "FHIR subscription not found"}:                                                   "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirsubscriptions.go", "a Subscription belongs to a registered system client (SMART Backend Services)"}: "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirsubscriptions.go", "a Subscription needs a reason of at most 500 bytes"}:                            "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirsubscriptions.go", "the criteria name Practitioner/%d, which does not exist"}:                       "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"fhirsubscriptions.go", "the criteria name a department that does not exist"}:                            "FHIR facade only: answered as an OperationOutcome, never on a page",
	{"outage.go", "staff account %s is disabled"}:                                                             "operator CLI (StaffActor: fairslot kit)",
	{"scope.go", "doctor, campus and department are positive ids (0 clears)"}:                                 "operator CLI (fairslot staff-scope)",
	{"scope.go", "only a doctor's login links to a doctor record; %s is %s"}:                                  "operator CLI (fairslot staff-scope)",
	{"scope.go", "department %d is not at campus %d"}:                                                         "operator CLI (fairslot staff-scope)",
	{"scope.go", "no campus %d"}:                                       "operator CLI (fairslot staff-scope)",
	{"auth.go", "unknown role %q"}:                                     "CreateStaff: set-up (demo, tests); pages use AddStaff",
	{"auth.go", "the demo's published password is for demo mode only"}: "CreateStaff: set-up (demo, tests)",
	{"auth.go", "a staff password must be 10 to %d characters"}:        "CreateStaff: set-up (demo, tests)",
	{"staffauth.go", "session ended"}:                                  "turned into the Unauthorized refusal by Authenticate",
	{"patients.go", "not found"}:                                       "byIndex's start value, replaced by the look-up's own error",
	// Errors a page recognises and answers with a page of its own.
	{"binding.go", "if the details are right, a code was sent to the phone on record of this identity; enter it to add the patient, or bring the ID card to the registration desk"}: "ErrProofSent: the binding page shows the code form",
	{"binding.go", "the code or the details are not right; %d tries left"}:                                             "BindingFailed: the binding page shows the tries left",
	{"staffauth.go", "step_up_required: confirm your authenticator code again (POST /api/v1/staff/step-up) and retry"}: "ErrStepUp: the pages send the visitor to the step-up page",
}

// TestUserErrorsHaveKeys: an error of a kind a person can act on
// (forbidden, invalid, conflict, not found, limit reached) made in this
// package carries a catalogue key (fairslot.E, or a fairslot.Error literal
// with a Key), so that a Vietnamese or Chinese page shows it in its own
// language, not in English; only the errors in unkeyed may go without. That every key used
// is in all three catalogues is internal/web's TestEveryErrorKeyIsTranslated.
func TestUserErrorsHaveKeys(t *testing.T) {
	userKinds := map[string]bool{"Forbidden": true, "Invalid": true, "Conflict": true, "NotFound": true, "Limited": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[[2]string]bool{}
	calls := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		check := func(pos token.Pos, kindExpr, message ast.Expr) {
			calls++
			kind, ok := kindExpr.(*ast.SelectorExpr)
			if !ok || !isFairslot(kind, kind.Sel.Name) {
				t.Errorf("%s: an unkeyed error whose kind is not a fairslot constant cannot be checked", fset.Position(pos))
				return
			}
			if !userKinds[kind.Sel.Name] {
				return
			}
			at := [2]string{filepath.Base(path), text(message)}
			if _, ok := unkeyed[at]; !ok {
				t.Errorf("%s: the %s error %q has no catalogue key: a page would show it in English; "+
					"use fairslot.E with a key in internal/web/i18n/{en,vi,zh-CN}.json", fset.Position(pos), kind.Sel.Name, at[1])
			}
			seen[at] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isFairslot(n.Fun, "Errorf") && len(n.Args) >= 2 {
					check(n.Pos(), n.Args[0], n.Args[1])
				}
			case *ast.CompositeLit:
				if !isFairslot(n.Type, "Error") {
					return true
				}
				fields := map[string]ast.Expr{}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if id, ok := kv.Key.(*ast.Ident); ok {
							fields[id.Name] = kv.Value
						}
					}
				}
				if fields["Key"] == nil {
					check(n.Pos(), fields["Kind"], fields["Message"])
				}
			}
			return true
		})
	}
	if calls == 0 {
		t.Fatal("found no unkeyed error at all; the scan is broken")
	}
	for at := range unkeyed {
		if !seen[at] {
			t.Errorf("unkeyed lists %s %q, which the code no longer makes: remove it", at[0], at[1])
		}
	}
}

// text is the message an error is made with: a string literal, or the
// format of a call (fmt.Sprintf).
func text(e ast.Expr) string {
	if call, ok := e.(*ast.CallExpr); ok && len(call.Args) > 0 {
		e = call.Args[0]
	}
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	return ""
}

// isFairslot reports whether e is fairslot.name.
func isFairslot(e ast.Expr, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "fairslot" && sel.Sel.Name == name
}
