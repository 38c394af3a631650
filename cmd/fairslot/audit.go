package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit/merkle"
	"github.com/fairslot/fairslot/internal/config"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

func init() {
	commands = append(commands, command{"audit", "the tamper-evident audit log: key, checkpoint, verify, prove N, check PROOF", runAudit})
}

const auditUsage = `usage: fairslot audit <key|checkpoint|verify|prove N|check FILE|-> [flags]
  key         print the checkpoint verifier key (public: give it to witnesses and auditors)
  checkpoint  number new records and sign a checkpoint now, pushing it to the witnesses
  verify      recompute every leaf from the records, check every stored and witnessed
              checkpoint, and print the first bad index
  prove N     print an inclusion proof of leaf N in the newest checkpoint
  check       verify a proof printed by prove (FILE, or - for standard input)`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, auditUsage)
		return errors.New("audit: a subcommand is required")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	var witnessDirs stringList
	fs.Var(&witnessDirs, "witness-dir", "also read checkpoints from this witness directory (repeatable; config audit.witness_dirs are read too)")
	keyFlag := fs.String("key", "", "check: the verifier key (default: the one kept with the keyset)")
	// The leaf number or proof file may come before the flags.
	var pos []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = args[:1], args[1:]
	}
	c, err := loadConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	switch sub {
	case "key":
		_, v, err := auditKeys(c)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	case "check":
		return auditCheck(c, pos, *keyFlag, stdout)
	case "checkpoint", "verify", "prove":
	default:
		fmt.Fprintln(stderr, auditUsage)
		return fmt.Errorf("audit: unknown subcommand %q", sub)
	}
	_, st, err := openCurrent(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	signer, vkey, err := auditKeys(c)
	if err != nil {
		return err
	}
	verifier, _ := note.NewVerifier(vkey)
	switch sub {
	case "checkpoint":
		j := auditJob(c, st, signer, verifier, newLogger(c, stderr))
		j.Final(ctx)
		msg, err := merkle.Latest(ctx, st)
		if err != nil {
			return err
		}
		stdout.Write(msg)
		return nil
	case "verify":
		c.Audit.WitnessDirs = append(c.Audit.WitnessDirs, witnessDirs...)
		witnessed, err := readWitnesses(c)
		if err != nil {
			return err
		}
		start := time.Now()
		rep, err := (&merkle.Verifier{Store: st, Key: verifier}).Verify(ctx, witnessed)
		if err != nil {
			return err
		}
		printReport(stdout, rep, len(witnessed), time.Since(start))
		if !rep.OK() {
			return errors.New("the audit log does NOT verify")
		}
		return nil
	default: // prove
		if len(pos) != 1 {
			return errors.New("usage: fairslot audit prove N")
		}
		n, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("audit prove: %q is not a leaf number", pos[0])
		}
		return auditProve(ctx, st, verifier, n, stdout)
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// auditKeys returns the checkpoint signer kept with the keyset, and its
// verifier key.
func auditKeys(c config.Config) (note.Signer, string, error) {
	if err := c.Validate(); err != nil {
		return nil, "", err
	}
	skey, err := vault.AuditSigningKey(c.Keyset)
	if err != nil {
		return nil, "", err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", err
	}
	v, err := merkle.VerifierKey(skey)
	return s, v, err
}

func auditJob(c config.Config, st storage.Store, s note.Signer, v note.Verifier, log *slog.Logger) *merkle.Job {
	j := &merkle.Job{Log: &merkle.Log{Store: st, Signer: s}, Verifier: &merkle.Verifier{Store: st, Key: v},
		CheckpointEvery: time.Duration(c.Audit.CheckpointEvery), VerifyEvery: time.Duration(c.Audit.VerifyEvery), Logger: log}
	for _, d := range c.Audit.WitnessDirs {
		j.Witnesses = append(j.Witnesses, merkle.DirWitness{Dir: d})
	}
	for _, u := range c.Audit.WitnessURLs {
		j.Witnesses = append(j.Witnesses, merkle.HTTPWitness{URL: u, Client: &http.Client{Timeout: 10 * time.Second}})
	}
	return j
}

func readWitnesses(c config.Config) ([]merkle.Source, error) {
	var out []merkle.Source
	for _, d := range c.Audit.WitnessDirs {
		w, err := merkle.DirWitness{Dir: d}.Read()
		if err != nil {
			return nil, err
		}
		out = append(out, w...)
	}
	return out, nil
}

func printReport(w io.Writer, rep merkle.Report, witnessed int, took time.Duration) {
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
	fmt.Fprintf(w, "%d checkpoints with a valid signature (%d witnessed copies read); newest covers %d records\n", len(rep.Trusted), witnessed, rep.Size)
	if rep.FirstBad >= 0 {
		fmt.Fprintf(w, "FIRST BAD INDEX: %d (every record before it matches what was signed)\n", rep.FirstBad)
	} else if rep.OK() {
		fmt.Fprintf(w, "OK: all %d records match every signed checkpoint (%s)\n", rep.Size, took.Round(time.Millisecond))
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(w, "%d newer records are numbered but not yet under a signed checkpoint\n", rep.Unsigned)
	}
}

// A proof as prove prints it and check reads it.
const (
	proofLeaf       = "fairslot audit proof\nleaf "
	proofRecord     = "record "
	proofHashes     = "proof"
	proofCheckpoint = "checkpoint"
)

func auditProve(ctx context.Context, st storage.Store, v note.Verifier, n int64, w io.Writer) error {
	msg, err := merkle.Latest(ctx, st)
	if err != nil {
		return err
	}
	cp, err := merkle.Open(msg, v)
	if err != nil {
		return fmt.Errorf("the newest checkpoint: %w", err)
	}
	if n >= cp.Size {
		return fairslot.Errorf(fairslot.NotFound, "leaf %d is not under the newest checkpoint (size %d) yet", n, cp.Size)
	}
	var record []byte
	var proof tlog.RecordProof
	err = st.View(ctx, func(tx storage.Tx) error {
		if err := tx.AuditLeaves(ctx, n, n+1, func(l storage.AuditLeaf) error {
			record = bytes.Clone(l.Canonical)
			return nil
		}); err != nil {
			return err
		}
		proof, err = tlog.ProveRecord(cp.Size, n, merkle.StoredHashes(ctx, tx))
		return err
	})
	if err != nil {
		return err
	}
	if record == nil {
		return fmt.Errorf("leaf %d has no record: run 'fairslot audit verify'", n)
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Hash, n, tlog.RecordHash(record)); err != nil {
		return fmt.Errorf("leaf %d does not prove against the newest checkpoint (%v): run 'fairslot audit verify'", n, err)
	}
	fmt.Fprintf(w, "%s%d\n%s%s\n%s\n", proofLeaf, n, proofRecord, record, proofHashes)
	for _, h := range proof {
		fmt.Fprintln(w, base64.StdEncoding.EncodeToString(h[:]))
	}
	fmt.Fprintf(w, "%s\n%s", proofCheckpoint, msg)
	return nil
}

func auditCheck(c config.Config, args []string, vkey string, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: fairslot audit check FILE|-")
	}
	if vkey == "" {
		var err error
		if _, vkey, err = auditKeys(c); err != nil {
			return err
		}
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	var r io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	n, record, proof, msg, err := parseProof(data)
	if err != nil {
		return err
	}
	cp, err := merkle.Open(msg, v)
	if err != nil {
		return fmt.Errorf("the proof's checkpoint: %w", err)
	}
	if err := tlog.CheckRecord(proof, cp.Size, cp.Hash, n, tlog.RecordHash(record)); err != nil {
		return fmt.Errorf("the proof does NOT verify: %w", err)
	}
	fmt.Fprintf(w, "OK: record %d is in the log %s of %d records, as signed\n%s\n", n, cp.Origin, cp.Size, record)
	return nil
}

func parseProof(data []byte) (n int64, record []byte, proof tlog.RecordProof, msg []byte, err error) {
	bad := func(what string) error { return fmt.Errorf("not an audit proof: %s", what) }
	rest, ok := bytes.CutPrefix(data, []byte(proofLeaf))
	if !ok {
		return 0, nil, nil, nil, bad("no header")
	}
	sc := bufio.NewScanner(bytes.NewReader(rest))
	sc.Buffer(nil, 1<<20)
	line := func() string {
		if !sc.Scan() {
			return ""
		}
		return sc.Text()
	}
	if n, err = strconv.ParseInt(line(), 10, 64); err != nil || n < 0 {
		return 0, nil, nil, nil, bad("leaf number")
	}
	rec, ok := strings.CutPrefix(line(), proofRecord)
	if !ok {
		return 0, nil, nil, nil, bad("record line")
	}
	if line() != proofHashes {
		return 0, nil, nil, nil, bad("proof line")
	}
	for {
		l := line()
		if l == proofCheckpoint {
			break
		}
		h, err := tlog.ParseHash(l)
		if err != nil {
			return 0, nil, nil, nil, bad("proof hash")
		}
		proof = append(proof, h)
		if len(proof) > 64 {
			return 0, nil, nil, nil, bad("too many hashes")
		}
	}
	i := bytes.Index(data, []byte("\n"+proofCheckpoint+"\n"))
	if i < 0 {
		return 0, nil, nil, nil, bad("no checkpoint")
	}
	return n, []byte(rec), proof, data[i+len(proofCheckpoint)+2:], nil
}

// auditStart checks, before serve starts, that the log matches its newest
// signed checkpoint — the witnessed ones included — and returns the leader's
// audit job. A mismatch refuses the start unless accept is set.
func auditStart(ctx context.Context, c config.Config, st storage.Store, log *slog.Logger, accept bool) (*merkle.Job, error) {
	signer, vkey, err := auditKeys(c)
	if err != nil {
		return nil, err
	}
	verifier, _ := note.NewVerifier(vkey)
	j := auditJob(c, st, signer, verifier, log)
	witnessed, err := readWitnesses(c)
	if err != nil {
		return nil, fmt.Errorf("audit witness: %w", err)
	}
	_, err = merkle.Latest(ctx, st)
	if err != nil && fairslot.ErrorKind(err) != fairslot.NotFound {
		return nil, err
	}
	if err != nil && len(witnessed) == 0 {
		log.Info("audit log: no checkpoint yet; the first is signed within audit.checkpoint_every", "verifier_key", vkey)
		return j, nil
	}
	start := time.Now()
	rep, err := j.Verifier.Verify(ctx, witnessed)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		var b strings.Builder
		printReport(&b, rep, len(witnessed), 0)
		if !accept {
			return nil, fmt.Errorf("the audit log does not match its signed checkpoints; refusing to start (run 'fairslot audit verify'; serve --accept-audit-mismatch starts anyway):\n%s", b.String())
		}
		log.Error("ALERT: the audit log does not match its signed checkpoints; starting anyway (--accept-audit-mismatch)", "first_bad_index", rep.FirstBad, "report", b.String())
		j.Mismatches.Add(1)
		return j, nil
	}
	j.Verified = rep.Trusted[len(rep.Trusted)-1]
	log.Info("audit log verified against its newest signed checkpoint", "records", rep.Size, "witnessed", len(witnessed), "took", time.Since(start).Round(time.Millisecond))
	return j, nil
}

// auditLoop runs the job on this node alone (the embedded store), ticking
// often enough for the checkpoint and verification intervals.
func auditLoop(ctx context.Context, j *merkle.Job) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		j.Tick(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func registerAuditMetrics(m *prometheus.Registry, j *merkle.Job) {
	m.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_audit_mismatches_total",
		Help: "Verifications (at start and by the job leader) that found the audit log not matching its signed checkpoints."},
		func() float64 { return float64(j.Mismatches.Load()) }))
	m.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fairslot_audit_witness_errors_total",
		Help: "Checkpoint pushes to a witness that failed."},
		func() float64 { return float64(j.WitnessErrors.Load()) }))
}

// auditCheckpointRoute serves GET /audit/checkpoint, the newest signed
// checkpoint as a text note, to anyone: it holds no personal data, and
// anyone may keep copies.
func auditCheckpointRoute(next http.Handler, st storage.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		msg, err := merkle.Latest(r.Context(), st)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			http.Error(w, "no audit checkpoint yet", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(msg)
	})
	mux.Handle("/", next)
	return mux
}
