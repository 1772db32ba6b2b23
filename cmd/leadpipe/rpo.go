package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/leadpipe/leadpipe/stages/classify"
)

const rpoUsage = `Usage: leadpipe rpo load FILE --checked-at T [--out RPOFILE] [--hmac-key-file F | --dev-key]

Load the result of a check of Italy's Registro Pubblico delle Opposizioni
(RPO) for classify: the numbers found registered, keyed as classify keys
a lead's phone. The raw numbers are never stored: RPOFILE holds only their
keyed HMACs (under the current HMAC key and the previous one, if given),
their registration times and the time of the check.

FILE (standard input when "-") is CSV, one registered number a line:

  number[,registered_at]

An Italian number in any usual form (+39 333 1234567, 0039 333 1234567,
3331234567); registered_at, when the check gives it, is RFC 3339 or a date
(YYYY-MM-DD, counted as the end of that day, UTC). A first line
"number,registered_at", blank lines and lines starting with # are skipped.
An error names the line, never the number.

Give RPOFILE to the classify stage (leadpipe run --rpo RPOFILE, then
restart classify) and to leadpipe classify --rpo RPOFILE. With it, for a
lead whose phone number is Italian:
  - a registered number has no basis for phone_marketing unless its
    consent postdates the registration (registering cancels the consents
    given before it; a registration of unknown date counts as of the check);
  - once the check is older than 15 days, phone_marketing rests only on a
    consent given after the check: check again and load the new result.
The phone_marketing evidence and the explanation name the RPO.

Exit status: 0 when RPOFILE was written, 1 when FILE has a bad line, 2 on
bad usage (flags, key, files).

Example:
  leadpipe rpo load registered.csv --checked-at 2026-11-15T09:00:00Z --out /var/lib/leadpipe/rpo.json`

// cmdRPO implements `leadpipe rpo load`.
func cmdRPO(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if code, ok := onlySubcommand(args, "rpo", "load", rpoUsage, 2, stdout, stderr); !ok {
		return code
	}
	fs := newFlagSet("rpo load", rpoUsage, stdout, stderr)
	checkedAt := fs.String("checked-at", "", "when the register was checked, RFC 3339 (required)")
	outFile := fs.String("out", "rpo.json", "file to write the keyed check to (replaced whole)")
	var keys keyFlags
	keys.register(fs)
	if code, ok := parse(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "leadpipe rpo load: "+format+"\n", a...)
		return code
	}
	if fs.NArg() != 1 {
		return fail(2, "give one input FILE (or - for standard input)")
	}
	at, err := time.Parse(time.RFC3339, *checkedAt)
	if err != nil {
		return fail(2, "--checked-at: %q is not an RFC 3339 time such as 2026-11-15T09:00:00Z", *checkedAt)
	}
	if at.After(time.Now().Add(classify.MaxEventSkew)) {
		return fail(2, "--checked-at: %s is in the future", *checkedAt)
	}
	keyer, err := keys.keyer()
	if err != nil {
		return fail(2, "%v", err)
	}
	in := stdin
	if fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail(2, "%v", err)
		}
		defer f.Close()
		in = f
	}
	rpo, err := classify.ParseRPOCheck(in, at, keyer)
	if err != nil {
		return fail(1, "%s: %v", fs.Arg(0), err)
	}
	if err := writeRPO(*outFile, rpo); err != nil {
		return fail(2, "%v", err)
	}
	numbers := len(rpo.Registered) / len(rpo.KeyVersions)
	fmt.Fprintf(stdout, "leadpipe rpo load: %d registered numbers, checked %s, valid until %s, keyed under %v into %s\n",
		numbers, rpo.CheckedAt.Format(time.RFC3339), rpo.CheckedAt.Add(classify.RPOValidity).Format(time.RFC3339), rpo.KeyVersions, *outFile)
	return 0
}

// writeRPO writes rpo to path whole: to a temporary file beside it, then
// renamed, so that a classify starting meanwhile reads the old check or
// the new one.
func writeRPO(path string, rpo *classify.RPO) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rpo-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := rpo.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
