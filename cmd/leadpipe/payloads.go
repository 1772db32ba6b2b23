package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// openInput opens FILE, or stdin for "-".
func openInput(path string, stdin io.Reader) (io.Reader, string, func(), error) {
	if path == "-" {
		if stdin == nil {
			stdin = strings.NewReader("")
		}
		return stdin, "-", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	return f, path, func() { f.Close() }, nil
}

// readPayloads calls fn with each payload of r and its position ("line 3",
// or "item 3" of a JSON array): JSON lines, or one JSON array. A UTF-8
// byte order mark at the start is skipped; blank lines are.
func readPayloads(r io.Reader, fn func(pos string, payload []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil // empty
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' {
			br.Discard(1)
			continue
		}
		if b[0] == '[' {
			return readArray(br, fn)
		}
		break
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(fmt.Sprintf("line %d", n), line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the payloads: %w", err)
	}
	return nil
}

// readArray reads a JSON array of payloads.
func readArray(r io.Reader, fn func(pos string, payload []byte) error) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("read the payloads: %w", err)
	}
	for n := 1; dec.More(); n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("read the payloads: item %d of the array is not JSON (at byte %d)", n, dec.InputOffset())
		}
		if err := fn(fmt.Sprintf("item %d", n), raw); err != nil {
			return err
		}
	}
	return nil
}
