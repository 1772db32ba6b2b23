package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/leadpipe/leadpipe/schemas"
)

const tcfUsage = `Usage: leadpipe tcf decode STRING
       leadpipe tcf decode -

Decode an IAB TCF v2.2/2.3 TC string, the consent a site's banner (its
CMP) stores for a visitor, and print it as JSON with the field names of
IAB's reference library (cmpId, purposeConsents, vendorConsents,
publisherRestrictions, vendorsDisclosed, ...); every set is a sorted array
of ids.

The string must follow the rules of TCF 2.2 and 2.3: policy version 4 or
more, no legitimate interest for purposes 3 to 6, and the disclosed
vendors segment from policy version 5. A string that breaks one, or is
malformed, prints an error naming the field and the rule to standard
error.

With - it decodes the strings of standard input, one a line, and prints
one JSON line per string; a bad line is reported (by its number) and the
others are still decoded. Blank lines are skipped.

Exit status: 0 when every string decoded, 1 when any did not, 2 on bad
usage.

Example:
  leadpipe tcf decode CQSbk4AQSbk4ANwAAAENAwFgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA
  leadpipe tcf decode - < strings.txt`

// cmdTCF implements `leadpipe tcf decode STRING | -`.
func cmdTCF(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("tcf", tcfUsage, stdout, stderr)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 2 || fs.Arg(0) != "decode" {
		fmt.Fprintf(stderr, "leadpipe tcf: want `decode STRING` or `decode -`, got %d arguments (see leadpipe tcf --help)\n", fs.NArg())
		return 2
	}
	if s := fs.Arg(1); s != "-" {
		tc, err := schemas.DecodeTCF(s)
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe %v\n", err) // "leadpipe tcf: FIELD: RULE"
			return 1
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tc); err != nil {
			fmt.Fprintf(stderr, "leadpipe tcf: %v\n", err)
			return 1
		}
		return 0
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	failed := false
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		tc, err := schemas.DecodeTCF(s)
		if err == nil {
			err = enc.Encode(tc)
		}
		if err != nil {
			w.Flush()
			fmt.Fprintf(stderr, "leadpipe tcf: line %d: %s\n", n, strings.TrimPrefix(err.Error(), "tcf: "))
			failed = true
		}
	}
	if err := sc.Err(); err != nil {
		w.Flush()
		fmt.Fprintf(stderr, "leadpipe tcf: reading standard input: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}
