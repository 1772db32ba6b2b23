package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/leadpipe/leadpipe/stages/sources"
)

const sourcesSynopsis = `Usage: leadpipe sources check [--sources FILE] [--source meta FILE...]

Checks a sources.yaml (what each form's consent boxes grant;
docs/sources.md) and prints what it maps. Given payload files of a
source, it also lists every form and checkbox in them that the file does
not map, and every box the form ticks by default: none of them gives a
consent, and a social lead without one is quarantined. Exit status: 0 when
the file is valid and maps everything seen, 3 when something seen is not
mapped, 1 when a payload file cannot be read, 2 on bad usage or an invalid
sources file (its error names the line and the field).

Example:
  leadpipe sources check --sources sources.yaml --source meta leads.jsonl`

func cmdSources(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("sources", sourcesSynopsis, stdout, stderr)
	sourcesFile := fs.String("sources", "", "sources.yaml to check")
	source := fs.String("source", "meta", "the platform of the payload files: meta, linkedin, google-ads, segment, rudderstack (a CSV list's summary is leadpipe import's)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() == 0 || fs.Arg(0) != "check" {
		fmt.Fprintln(stderr, "leadpipe sources: the one subcommand is check (leadpipe sources check --help)")
		return 2
	}
	if !slices.Contains(importSources, *source) || *source == "csv" {
		fmt.Fprintf(stderr, "leadpipe sources: --source %s is not supported; the sources are %s\n", *source, strings.Join(importSources, ", "))
		return 2
	}
	mapping := &sources.Config{}
	if *sourcesFile != "" {
		var err error
		if mapping, err = sources.LoadConfig(*sourcesFile); err != nil {
			fmt.Fprintf(stderr, "leadpipe sources: %v\n", err)
			return 2
		}
	}
	for _, id := range slices.Sorted(maps.Keys(mapping.Meta.Forms)) {
		f := mapping.Meta.Forms[id]
		for _, key := range slices.Sorted(maps.Keys(f.Checkboxes)) {
			box := f.Checkboxes[key]
			note := ""
			if box.CheckedByDefault {
				note = " (ticked by default: never a consent)"
			}
			fmt.Fprintf(stdout, "meta form %s, checkbox %s: %s%s\n", id, key, strings.Join(box.Purposes, ", "), note)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(mapping.LinkedIn.Forms)) {
		f := mapping.LinkedIn.Forms[id]
		for _, c := range slices.Sorted(maps.Keys(f.Consents)) {
			fmt.Fprintf(stdout, "linkedin form %s, consent %s: %s\n", id, c, strings.Join(f.Consents[c].Purposes, ", "))
		}
	}
	sum := newImportSummary()
	for _, path := range fs.Args()[1:] {
		in, _, closeIn, err := openInput(path, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe sources: %v\n", err)
			return 1
		}
		err = readPayloads(in, func(_ string, payload []byte) error {
			if _, r, err := adapt(*source, payload, mapping); err == nil {
				sum.add(r)
			}
			return nil
		})
		closeIn()
		if err != nil {
			fmt.Fprintf(stderr, "leadpipe sources: %s: %v\n", path, err)
			return 1
		}
	}
	for _, l := range sum.lines(*source) {
		fmt.Fprintln(stdout, l)
	}
	if sum.unmapped() {
		return 3
	}
	return 0
}
