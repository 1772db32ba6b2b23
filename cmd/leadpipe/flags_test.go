package main

import (
	"strings"
	"testing"
)

// TestEachCommandListsOnlyTheFlagsItUses: --help of the commands that use
// part of the configuration lists that part only.
func TestEachCommandListsOnlyTheFlagsItUses(t *testing.T) {
	for _, tc := range []struct {
		cmd       string
		fn        func(t *testing.T, args ...string) (int, string, string)
		has, lack []string
	}{
		{"gen", runGen, []string{"--brokers", "--topic-prefix", "--kafka-sasl-mechanism", "--leads"},
			[]string{"--batch-records", "--group-prefix", "--partitions", "--max-idle", "--clickhouse"}},
		{"topics", runTopics, []string{"--brokers", "--partitions", "--replication-factor", "--kafka-tls-ca-file"},
			[]string{"--batch-records", "--group-prefix", "--session-timeout", "--clickhouse"}},
		{"classify", runClassifyCmd, []string{"--policy", "--hmac-key-file", "--dev-key", "--quarantine-days", "--now"},
			[]string{"--brokers", "--batch-records", "--clickhouse"}},
		{"lead", runLead, []string{"--brokers", "--clickhouse", "--email", "--kafka-sasl-username"},
			[]string{"--batch-records", "--group-prefix", "--partitions"}},
		{"run", runRun, []string{"--brokers", "--batch-records", "--group-prefix", "--clickhouse", "--quarantine-days", "--erasure-every", "--stall-after"},
			[]string{"--partitions", "--replication-factor"}},
		{"dashboard", runDashboardCmd, []string{"--clickhouse", "--marketing-db", "--listen"}, []string{"--clickhouse-db", "--brokers"}},
		{"marketing show", runMarketingShow, []string{"--clickhouse", "--marketing-db", "--channel"}, []string{"--clickhouse-db", "--brokers"}},
		{"marketing refresh", runMarketingRefresh, []string{"--clickhouse", "--clickhouse-db", "--marketing-db", "--marketing-k"}, []string{"--channel", "--listen"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			code, help, errs := tc.fn(t, "--help")
			if code != 0 {
				t.Fatalf("--help exits %d", code)
			}
			// On standard output, so that `leadpipe run --help | less` shows it.
			if errs != "" || !strings.Contains(help, "Usage: leadpipe "+strings.Fields(tc.cmd)[0]) {
				t.Errorf("%s --help wrote %d bytes to stdout and %q to stderr: want the help on stdout", tc.cmd, len(help), errs)
			}
			for _, f := range tc.has {
				if !strings.Contains(help, f+" ") {
					t.Errorf("%s --help does not list %s", tc.cmd, f)
				}
			}
			for _, f := range tc.lack {
				if strings.Contains(help, f+" ") {
					t.Errorf("%s --help lists %s, which it does not use", tc.cmd, f)
				}
			}
			if !strings.Contains(help, "LEADPIPE_<FLAG>") {
				t.Errorf("%s --help does not say that every flag is also a variable", tc.cmd)
			}
		})
	}
}

// TestEveryCommandReadsItsFlagsFromTheEnvironment: LEADPIPE_<FLAG> sets a
// flag not given on the command line, in classify as in the others; the
// command line wins.
func TestEveryCommandReadsItsFlagsFromTheEnvironment(t *testing.T) {
	t.Setenv("LEADPIPE_HMAC_KEY", "")
	t.Setenv("LEADPIPE_QUARANTINE_DAYS", "-1")
	if code, _, errs := runClassifyCmd(t, "--dev-key"); code != 2 || !strings.Contains(errs, "--quarantine-days") {
		t.Errorf("classify with LEADPIPE_QUARANTINE_DAYS=-1: exit %d, %q; want 2 naming the flag", code, errs)
	}
	if code, _, errs := runClassifyCmd(t, "--dev-key", "--quarantine-days", "0"); code != 0 {
		t.Errorf("classify with the flag given: exit %d, %q; want the command line to win", code, errs)
	}
	t.Setenv("LEADPIPE_DEV_KEY", "true")
	if code, _, errs := runClassifyCmd(t, "--quarantine-days", "0"); code != 0 {
		t.Errorf("classify with LEADPIPE_DEV_KEY=true: exit %d, %q", code, errs)
	}
	t.Setenv("LEADPIPE_LEADS", "3")
	code, out, errs := runGen(t, "--behavior-per-lead", "0", "--malformed-rate", "0")
	if code != 0 || strings.Count(out, `"type":"lead"`) < 3 || strings.Count(out, `"type":"lead"`) > 6 {
		t.Errorf("gen with LEADPIPE_LEADS=3: exit %d, %d lead events, %q", code, strings.Count(out, `"type":"lead"`), errs)
	}
	t.Setenv("LEADPIPE_BROKERS", "no-port")
	if code, _, errs := runTopics(t); code != 2 || !strings.Contains(errs, "--brokers") {
		t.Errorf("topics with LEADPIPE_BROKERS=no-port: exit %d, %q; want 2 naming --brokers", code, errs)
	}
}

func runGen(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdGen, args...)
}
func runTopics(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdTopics, args...)
}
func runClassifyCmd(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdClassify, args...)
}
func runLead(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdLead, args...)
}
func runRun(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdRun, args...)
}
func runDashboardCmd(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdDashboard, args...)
}
func runMarketingShow(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdMarketing, append([]string{"show"}, args...)...)
}
func runMarketingRefresh(t *testing.T, args ...string) (int, string, string) {
	return runCmd(t, cmdMarketing, append([]string{"refresh"}, args...)...)
}
