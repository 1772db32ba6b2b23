package main

// The documentation's tests: every relative link of the docs resolves, every
// command a ```console block shows runs and prints what it shows, and
// DESIGN.md's file map names what the tree holds. The convention for
// ```console blocks is written in DESIGN.md ("Docs that are tested").

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// docFiles are the Markdown pages whose links and console blocks are
// tested, relative to the repository's root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "DESIGN.md", "RELIABILITY.md"}
	for _, pattern := range []string{"docs/*.md", "bench/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(repoRoot, f)
			files = append(files, rel)
		}
	}
	return files
}

// fenced calls fn with each line of a Markdown file outside fenced code
// blocks, and its number.
func outsideFences(text string, fn func(n int, line string)) {
	in := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			fn(i+1, line)
		}
	}
}

var (
	mdLink  = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)\)`)
	mdCode  = regexp.MustCompile("`[^`]*`")
	heading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
)

// anchors returns the anchors GitHub gives a Markdown file's headings.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	outsideFences(text, func(_ int, line string) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	})
	return out
}

func TestDocsLinksResolve(t *testing.T) {
	checked := 0
	for _, file := range docFiles(t) {
		body, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		own := anchors(string(body))
		outsideFences(string(body), func(n int, line string) {
			line = mdCode.ReplaceAllString(line, "")
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				path, anchor, _ := strings.Cut(target, "#")
				if path == "" {
					if !own[anchor] {
						t.Errorf("%s:%d: link %q: no heading of %s has the anchor #%s", file, n, target, file, anchor)
					}
					continue
				}
				dest := filepath.Join(filepath.Dir(filepath.Join(repoRoot, file)), path)
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", file, n, target, path)
					continue
				}
				if anchor != "" && strings.HasSuffix(path, ".md") {
					other, err := os.ReadFile(dest)
					if err != nil {
						t.Fatal(err)
					}
					if !anchors(string(other))[anchor] {
						t.Errorf("%s:%d: link %q: no heading of %s has the anchor #%s", file, n, target, path, anchor)
					}
				}
			}
		})
	}
	t.Logf("%d relative links checked", checked)
}

// shownCommand is one `$ leadpipe ...` line of a ```console block and the
// output shown under it.
type shownCommand struct {
	file string
	line int
	cmd  string
	want []string
	exit int
}

// consoleCommands returns the commands of a Markdown file's ```console
// blocks.
func consoleCommands(t *testing.T, file, text string) []shownCommand {
	t.Helper()
	var out []shownCommand
	var cur *shownCommand
	in, indent := false, ""
	flush := func() {
		if cur != nil {
			for len(cur.want) > 0 && strings.TrimSpace(cur.want[len(cur.want)-1]) == "" {
				cur.want = cur.want[:len(cur.want)-1]
			}
			if n := len(cur.want); n > 0 {
				if m := exitLine.FindStringSubmatch(cur.want[n-1]); m != nil {
					cur.exit, _ = strconv.Atoi(m[1])
					cur.want = cur.want[:n-1]
				}
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if !in {
			if trimmed == "```console" {
				in, indent = true, line[:strings.Index(line, "`")]
			}
			continue
		}
		if trimmed == "```" {
			flush()
			in = false
			continue
		}
		line = strings.TrimPrefix(line, indent)
		if strings.HasPrefix(line, "$ ") {
			flush()
			cur = &shownCommand{file: file, line: i + 1, cmd: strings.TrimPrefix(line, "$ ")}
			for strings.HasSuffix(cur.cmd, `\`) && i+1 < len(lines) {
				i++
				cur.cmd = strings.TrimSuffix(cur.cmd, `\`) + " " + strings.TrimSpace(lines[i])
			}
			continue
		}
		if cur == nil {
			t.Errorf("%s:%d: a ```console block's first line is not a `$ leadpipe ...` command", file, i+1)
			continue
		}
		cur.want = append(cur.want, line)
	}
	return out
}

var exitLine = regexp.MustCompile(`^\[exit (\d+)\]$`)

// words splits a command line as the shell would for the commands the
// docs show: words, single and double quotes, a # comment.
func words(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return out, nil
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unclosed quote in %q", s)
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

// runShown runs a shown command line in process: one or more leadpipe
// commands joined by |, the first with an optional < FILE. It returns what
// a terminal shows (standard output and error as written) and the exit
// status of the last command.
func runShown(cmdline string) (string, int, error) {
	var shown bytes.Buffer
	var stdin io.Reader = strings.NewReader("")
	code := 0
	for i, part := range strings.Split(cmdline, " | ") {
		args, err := words(part)
		if err != nil {
			return "", 0, err
		}
		if n := len(args); n >= 2 && args[n-2] == "<" {
			if i > 0 {
				return "", 0, fmt.Errorf("< in the middle of a pipe")
			}
			f, err := os.ReadFile(args[n-1])
			if err != nil {
				return "", 0, err
			}
			stdin, args = bytes.NewReader(f), args[:n-2]
		}
		if len(args) == 0 || (args[0] != "leadpipe" && args[0] != "bin/leadpipe" && args[0] != "./bin/leadpipe") {
			return "", 0, fmt.Errorf("only leadpipe commands run here, not %q", part)
		}
		var out bytes.Buffer
		w := io.Writer(&shown)
		if i < len(strings.Split(cmdline, " | "))-1 {
			w = &out
		}
		code = dispatch(context.Background(), args[1:], stdin, w, &shown)
		stdin = &out
	}
	return shown.String(), code, nil
}

// matchShown reports whether got matches the shown lines: a line "..."
// stands for any number of lines, a line ending in "..." for any line that
// starts with the text before it; trailing spaces do not count.
func matchShown(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	w := strings.TrimRight(want[0], " ")
	if w == "..." {
		for skip := 0; skip <= len(got); skip++ {
			if matchShown(want[1:], got[skip:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 {
		return false
	}
	g := strings.TrimRight(got[0], " ")
	if prefix, ok := strings.CutSuffix(w, "..."); ok {
		if !strings.HasPrefix(g, prefix) {
			return false
		}
	} else if g != w {
		return false
	}
	return matchShown(want[1:], got[1:])
}

func TestDocsConsoleBlocksPrintWhatTheyShow(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "LEADPIPE_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	var shown []shownCommand
	for _, file := range docFiles(t) {
		body, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		shown = append(shown, consoleCommands(t, file, string(body))...)
	}
	t.Chdir(repoRoot)
	for _, c := range shown {
		got, code, err := runShown(c.cmd)
		if err != nil {
			t.Errorf("%s:%d: $ %s: %v", c.file, c.line, c.cmd, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
		if got == "" {
			lines = nil
		}
		if code != c.exit || !matchShown(c.want, lines) {
			printed := lines
			if len(printed) > 40 {
				printed = append(printed[:40:40], fmt.Sprintf("... (%d lines in all)", len(lines)))
			}
			t.Errorf("%s:%d: $ %s\nexits %d (shown: %d) and prints:\n%s\nshown:\n%s", c.file, c.line, c.cmd, code, c.exit, strings.Join(printed, "\n"), strings.Join(c.want, "\n"))
		}
	}
	if len(shown) == 0 {
		t.Fatal("no ```console block found in the docs")
	}
	t.Logf("%d shown commands run", len(shown))
}

// fileMapEntry is one path DESIGN.md's file map names, and its line.
type fileMapEntry struct {
	path string // relative to the repository's root, "/" at the end for a folder; may be a glob
	line int
	dir  string // the folder the entry sits under ("" at the top), with "/" at the end
	// indent is the entry's indent in spaces
	indent int
}

// fileMap parses the file map of DESIGN.md: a fenced block under "## File
// map" in which an entry's name starts at an indent of two spaces per
// level of folder (an entry ending in "/" is a folder, and the entries
// indented under it are inside it), and runs to the first two spaces; a
// line indented more than 12 spaces continues the description above it.
// A name may list several paths separated by ", ", each relative to the
// folder above it, and may be a glob (*_test.go).
func fileMap(t *testing.T) []fileMapEntry {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(repoRoot, "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(body), "\n")
	start := -1
	for i, l := range lines {
		if l == "## File map" {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal(`DESIGN.md has no "## File map" section`)
	}
	var out []fileMapEntry
	var parents []string // parents[level] is the folder of an entry at that level
	in := false
	for i := start; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			if in {
				break
			}
			in = true
			continue
		}
		if !in || strings.TrimSpace(l) == "" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if indent > 12 {
			continue
		}
		if indent%2 != 0 {
			t.Fatalf("DESIGN.md:%d: a file map entry's indent is two spaces per folder level, this one has %d", i+1, indent)
		}
		level := indent / 2
		if level > len(parents) {
			t.Fatalf("DESIGN.md:%d: indented deeper than the folder above it", i+1)
		}
		parents = parents[:level]
		name := strings.TrimLeft(l, " ")
		if j := strings.Index(name, "  "); j >= 0 {
			name = name[:j]
		}
		dir := strings.Join(parents, "")
		parts := strings.Split(name, ", ")
		for _, p := range parts {
			out = append(out, fileMapEntry{path: dir + p, line: i + 1, dir: dir, indent: indent})
		}
		if len(parts) == 1 && strings.HasSuffix(name, "/") {
			parents = append(parents, name)
		}
	}
	return out
}

func TestFileMapMatchesTheTree(t *testing.T) {
	entries := fileMap(t)
	named := map[string]bool{}           // files named, globs expanded
	listsFiles := map[string]bool{}      // folders the map lists files of
	folders := map[string]fileMapEntry{} // folders named
	for _, e := range entries {
		listsFiles[e.dir] = true
		if strings.HasSuffix(e.path, "/") {
			if fi, err := os.Stat(filepath.Join(repoRoot, e.path)); err != nil || !fi.IsDir() {
				t.Errorf("DESIGN.md:%d: the file map names %s, which is not a folder of the tree: remove or rename the line", e.line, e.path)
			}
			folders[e.path] = e
			continue
		}
		m, err := filepath.Glob(filepath.Join(repoRoot, e.path))
		if err != nil || len(m) == 0 {
			t.Errorf("DESIGN.md:%d: the file map names %s, which is not in the tree: remove or rename the line", e.line, e.path)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(repoRoot, f)
			named[filepath.ToSlash(rel)] = true
		}
	}
	// A Go file that is not a test is covered when the map names it, or
	// names its folder (or a folder above it) without listing any file in it:
	// a package described as a whole.
	var missing []string
	err := filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin" || d.Name() == "out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || named[rel] {
			return nil
		}
		for dir := filepath.Dir(rel); dir != "."; dir = filepath.Dir(dir) {
			if _, ok := folders[dir+"/"]; ok && !listsFiles[dir+"/"] {
				return nil
			}
			if listsFiles[dir+"/"] {
				break
			}
		}
		missing = append(missing, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(missing)
	for _, rel := range missing {
		dir, file := filepath.Dir(rel)+"/", filepath.Base(rel)
		f, ok := folders[dir]
		if !ok {
			t.Errorf("DESIGN.md's file map does not name %s: add a line for its folder %s (indented two spaces under its parent's), and under it one for %s", rel, dir, file)
			continue
		}
		indent := f.indent + 2
		t.Errorf("DESIGN.md's file map does not name %s: add under %s (DESIGN.md:%d), among its files, the line\n%s%-*s  what it holds", rel, dir, f.line, strings.Repeat(" ", indent), 26-indent, file)
	}
}
