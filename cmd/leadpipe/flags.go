package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// newFlagSet returns a flag set whose usage prints synopsis, then the
// flags: to stdout when asked for with --help (so that `| less` shows
// it), to stderr after a usage error.
func newFlagSet(name, synopsis string, stdout, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags (each also LEADPIPE_<FLAG> in the environment):\n", strings.TrimSpace(synopsis))
		fs.PrintDefaults()
	}
	fs.BoolP("help", "h", false, "print this help to standard output")
	return fs
}

// parse parses args, then sets every flag not given on the command line
// from its LEADPIPE_* environment variable. It returns the exit status to
// use when the command should not go on (ok false): 0 after --help, 2 on
// a bad flag.
func parse(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "leadpipe %s: %v\n", fs.Name(), err)
		return 2, false
	}
	if help, _ := fs.GetBool("help"); help {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, false
	}
	var envErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || envErr != nil {
			return
		}
		name := envName(f.Name)
		if v, set := os.LookupEnv(name); set {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "leadpipe %s: %v\n", fs.Name(), envErr)
		return 2, false
	}
	return 0, true
}

// envName is the environment variable of a flag: --clickhouse-db is
// LEADPIPE_CLICKHOUSE_DB.
func envName(flag string) string {
	return "LEADPIPE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// logFlags are the logging flags every long-running command has.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *pflag.FlagSet) {
	if l.level == "" {
		l.level = "info"
	}
	if l.format == "" {
		l.format = "text"
	}
	fs.StringVar(&l.level, "log-level", l.level, "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", l.format, "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", l.format)
}

// keyFlags choose the HMAC key of the pseudonymous keys.
type keyFlags struct {
	file         string
	version      string
	previousFile string
	previousVer  string
	dev          bool
}

func (k *keyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.file, "hmac-key-file", "", "file holding the secret HMAC key of pseudonymous keys (else LEADPIPE_HMAC_KEY)")
	fs.StringVar(&k.version, "hmac-key-version", "k1", "version label stored beside every key, changed when the key rotates")
	fs.StringVar(&k.previousFile, "hmac-previous-key-file", "", "file holding the key the current one replaced (else LEADPIPE_HMAC_PREVIOUS_KEY, if set): contact keys of both versions match the suppression list, and a lead's state moves to its new key when it is next seen")
	fs.StringVar(&k.previousVer, "hmac-previous-key-version", "", "version label of the previous key (required with it)")
	fs.BoolVar(&k.dev, "dev-key", false, "use the public development key (demo and tests only: it protects nothing)")
}

// keyer returns the key the flags choose. The public development key
// never wins silently over a real one: --dev-key with --hmac-key-file or
// LEADPIPE_HMAC_KEY set (a stray LEADPIPE_DEV_KEY=true in production) is
// refused.
func (k *keyFlags) keyer() (*pseudonym.Keyer, error) {
	if k.dev {
		if k.file != "" || os.Getenv("LEADPIPE_HMAC_KEY") != "" {
			return nil, fmt.Errorf("--dev-key (the public development key) and --hmac-key-file or LEADPIPE_HMAC_KEY exclude each other; give one")
		}
		if k.previousFile != "" || os.Getenv("LEADPIPE_HMAC_PREVIOUS_KEY") != "" {
			return nil, fmt.Errorf("--dev-key (the public development key) and a previous key exclude each other")
		}
		return pseudonym.Development(), nil
	}
	keyer, err := pseudonym.Load(k.file, "LEADPIPE_HMAC_KEY", k.version)
	if err != nil {
		return nil, err
	}
	if k.previousFile == "" && os.Getenv("LEADPIPE_HMAC_PREVIOUS_KEY") == "" {
		return keyer, nil
	}
	if k.previousVer == "" || k.previousVer == k.version {
		return nil, fmt.Errorf("--hmac-previous-key-version must name the previous key's version, other than --hmac-key-version %q", k.version)
	}
	prev, err := pseudonym.Load(k.previousFile, "LEADPIPE_HMAC_PREVIOUS_KEY", k.previousVer)
	if err != nil {
		return nil, fmt.Errorf("previous %w", err)
	}
	return keyer.Rotated(prev), nil
}

// onlySubcommand checks that args start with sub, the one subcommand of
// leadpipe cmd: -h, --help or help prints usage to standard output (exit
// 0); anything else says what sub is, with usage, on standard error and
// exits with code. ok is true when args[0] is sub.
func onlySubcommand(args []string, cmd, sub, usage string, code int, stdout, stderr io.Writer) (int, bool) {
	switch {
	case len(args) > 0 && args[0] == sub:
		return 0, true
	case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprintln(stdout, usage)
		return 0, false
	}
	fmt.Fprintf(stderr, "leadpipe %s: the only subcommand is %s\n\n%s\n", cmd, sub, usage)
	return code, false
}
