package main

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The tests below check the Grafana side of docker-compose.yml, which cannot
// run here: deploy/grafana's data source and dashboard against the marketer
// questions (analytics/queries) and the users of deploy/clickhouse/users.sql.

const (
	grafanaDataSourceFile = "deploy/grafana/provisioning/datasources/clickhouse.yaml"
	grafanaProviderFile   = "deploy/grafana/provisioning/dashboards/leadpipe.yaml"
	grafanaDashboardFile  = "deploy/grafana/dashboards/marketing.json"
	clickhouseUsersFile   = "deploy/clickhouse/users.sql"
)

// grafanaRawSQL is a marketer question as a Grafana panel asks it: the
// placeholders analytics.Query.Bind fills, filled with the dashboard's
// time range and channel variable instead.
func grafanaRawSQL(sql string) string {
	return strings.NewReplacer(
		"{marketing}", "marketing",
		"{from}", "toDate($__fromTime)",
		"{to}", "toDate($__toTime)",
		"{channel}", "'${channel}'",
	).Replace(sql)
}

// marketerQueries maps each file name of analytics/queries to its text.
func marketerQueries(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "analytics", "queries", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("analytics/queries holds no .sql file")
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

type grafanaDataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                   `json:"id"`
	Title      string                `json:"title"`
	Type       string                `json:"type"`
	Datasource *grafanaDataSourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string                `json:"refId"`
		Datasource *grafanaDataSourceRef `json:"datasource"`
		EditorType string                `json:"editorType"`
		QueryType  string                `json:"queryType"`
		RawSQL     string                `json:"rawSql"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a row's
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Type    string `json:"type"`
			Name    string `json:"name"`
			Query   string `json:"query"`
			Multi   bool   `json:"multi"`
			Current struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

func loadGrafanaDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, grafanaDashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboardFile, err)
	}
	return d
}

// queryPanels returns the dashboard's panels that query, rows' included.
func (d grafanaDashboard) queryPanels() []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

type grafanaDataSources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name     string `yaml:"name"`
		UID      string `yaml:"uid"`
		Type     string `yaml:"type"`
		JSONData struct {
			Host            string `yaml:"host"`
			Port            int    `yaml:"port"`
			Protocol        string `yaml:"protocol"`
			Username        string `yaml:"username"`
			DefaultDatabase string `yaml:"defaultDatabase"`
		} `yaml:"jsonData"`
		SecureJSONData struct {
			Password string `yaml:"password"`
		} `yaml:"secureJsonData"`
	} `yaml:"datasources"`
}

func loadGrafanaDataSources(t *testing.T) grafanaDataSources {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, grafanaDataSourceFile))
	if err != nil {
		t.Fatal(err)
	}
	var f grafanaDataSources
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", grafanaDataSourceFile, err)
	}
	if f.APIVersion != 1 || len(f.Datasources) != 1 {
		t.Fatalf("%s: want apiVersion 1 and one data source, have apiVersion %d and %d", grafanaDataSourceFile, f.APIVersion, len(f.Datasources))
	}
	return f
}

// clickhousePasswords maps each user users.sql creates to its password.
func clickhousePasswords(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, clickhouseUsersFile))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?im)^CREATE USER IF NOT EXISTS (\w+)\s+IDENTIFIED WITH sha256_password BY '([^'\\]*)'`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestGrafanaDashboardAsksTheMarketerQuestions(t *testing.T) {
	queries := marketerQueries(t)
	d := loadGrafanaDashboard(t)
	panels := d.queryPanels()
	if len(panels) == 0 {
		t.Fatalf("%s has no panel", grafanaDashboardFile)
	}
	byRawSQL := map[string]string{}
	for name, sql := range queries {
		byRawSQL[grafanaRawSQL(sql)] = name
	}
	asked := map[string][]string{} // query file -> the panels asking it
	t.Run("every panel asks one marketer question, verbatim but for its placeholders", func(t *testing.T) {
		for _, p := range panels {
			if len(p.Targets) != 1 {
				t.Errorf("panel %q has %d queries, want 1", p.Title, len(p.Targets))
				continue
			}
			q := p.Targets[0]
			name, ok := byRawSQL[q.RawSQL]
			if !ok {
				t.Errorf("panel %q asks a query that is no file of analytics/queries after the placeholders are mapped:\n%s", p.Title, q.RawSQL)
				continue
			}
			asked[name] = append(asked[name], p.Title)
			if q.EditorType != "sql" || q.QueryType != "table" {
				t.Errorf("panel %q: editorType %q, queryType %q; want sql and table (the raw SQL as written)", p.Title, q.EditorType, q.QueryType)
			}
		}
	})
	t.Run("every marketer question has exactly one panel", func(t *testing.T) {
		for name := range queries {
			if n := len(asked[name]); n != 1 {
				t.Errorf("analytics/queries/%s is asked by %d panels %q, want 1", name, n, asked[name])
			}
		}
	})
	t.Run("every panel reads the provisioned ClickHouse data source", func(t *testing.T) {
		ds := loadGrafanaDataSources(t).Datasources[0]
		for _, p := range panels {
			refs := []*grafanaDataSourceRef{p.Datasource}
			for _, q := range p.Targets {
				refs = append(refs, q.Datasource)
			}
			for _, ref := range refs {
				if ref == nil || ref.UID != ds.UID || ref.Type != ds.Type {
					t.Errorf("panel %q reads data source %+v, want {Type:%s UID:%s}", p.Title, ref, ds.Type, ds.UID)
					break
				}
			}
		}
	})
	t.Run("the channel variable offers every channel and each one", func(t *testing.T) {
		var found bool
		for _, v := range d.Templating.List {
			if v.Name != "channel" {
				continue
			}
			found = true
			if v.Type != "custom" || v.Multi {
				t.Errorf("channel is a %q variable (multi %v), want a single-value custom one: the queries compare it to one string", v.Type, v.Multi)
			}
			// Grafana's custom values: comma separated, each VALUE or LABEL : VALUE.
			var values []string
			for _, opt := range strings.Split(v.Query, ",") {
				value := opt
				if i := strings.LastIndex(opt, " : "); i >= 0 {
					value = opt[i+len(" : "):]
				}
				values = append(values, strings.TrimSpace(value))
			}
			want := []string{"", "web", "search", "social", "email", "referral", "direct", "event", "import",
				"purchased_list", "partner", "offline", "unknown", "anonymous", "other"}
			if !slices.Equal(values, want) {
				t.Errorf("channel offers %q, want %q (\"\" is every channel)", values, want)
			}
			if v.Current.Value != "" {
				t.Errorf("channel starts at %v, want \"\" (every channel)", v.Current.Value)
			}
		}
		if !found {
			t.Error("the dashboard has no channel variable")
		}
	})
}

func TestGrafanaDataSourceLogsInAsTheMarketer(t *testing.T) {
	ds := loadGrafanaDataSources(t).Datasources[0]
	j := ds.JSONData
	cases := []struct {
		name      string
		got, want any
	}{
		{"the data source is the ClickHouse plugin's", ds.Type, "grafana-clickhouse-datasource"},
		{"it logs in as marketer", j.Username, "marketer"},
		{"it reads the marketing database", j.DefaultDatabase, "marketing"},
		{"it connects to the compose service clickhouse", j.Host, "clickhouse"},
		{"it speaks the native protocol", j.Protocol, "native"},
		{"it connects to the native port", j.Port, 9000},
		{"its password is the one users.sql gives marketer", ds.SecureJSONData.Password, clickhousePasswords(t)["marketer"]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	t.Run("it has a uid for the dashboard to name", func(t *testing.T) {
		if ds.UID == "" {
			t.Error("the data source has no uid")
		}
	})
}

// composeMount is a service's volume, in the short syntax
// (SOURCE:TARGET[:MODE]) or the long one.
type composeMount struct {
	Source, Target string
}

func (m *composeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) == 1 {
			m.Target = parts[0]
			return nil
		}
		m.Source, m.Target = parts[0], parts[1]
		return nil
	}
	var long struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	m.Source, m.Target = long.Source, long.Target
	return nil
}

// composeMounts maps each service of docker-compose.yml to its volumes.
func composeMounts(t *testing.T) map[string][]composeMount {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Volumes []composeMount `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	out := map[string][]composeMount{}
	for name, s := range f.Services {
		out[name] = s.Volumes
	}
	return out
}

// mountedAt returns the repository path a service mounts at target, or "".
func mountedAt(mounts []composeMount, target string) string {
	for _, m := range mounts {
		if path.Clean(m.Target) == target && strings.HasPrefix(m.Source, ".") {
			return path.Clean(m.Source)
		}
	}
	return ""
}

func TestComposeRunsGrafanaAndTheDashboardAsTheirUsers(t *testing.T) {
	f := loadCompose(t)
	mounts := composeMounts(t)
	passwords := clickhousePasswords(t)
	grafana, ok := f.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml has no service grafana")
	}
	t.Run("clickhouse creates the users of users.sql on its first start", func(t *testing.T) {
		if got := mountedAt(mounts["clickhouse"], "/docker-entrypoint-initdb.d/users.sql"); got != clickhouseUsersFile {
			t.Errorf("/docker-entrypoint-initdb.d/users.sql is %q, want %s", got, clickhouseUsersFile)
		}
		for _, user := range []string{"marketer", "leadpipe_writer"} {
			if passwords[user] == "" {
				t.Errorf("%s creates no user %s with a sha256_password", clickhouseUsersFile, user)
			}
		}
	})
	t.Run("grafana runs a pinned official image with a pinned ClickHouse plugin", func(t *testing.T) {
		if !regexp.MustCompile(`^grafana/grafana:\d+\.\d+\.\d+$`).MatchString(grafana.Image) {
			t.Errorf("image is %q, want grafana/grafana:X.Y.Z", grafana.Image)
		}
		plugins := grafana.Environment["GF_INSTALL_PLUGINS"]
		if !regexp.MustCompile(`(^|,)\s*grafana-clickhouse-datasource \d+\.\d+\.\d+\s*(,|$)`).MatchString(plugins) {
			t.Errorf("GF_INSTALL_PLUGINS is %q, want grafana-clickhouse-datasource X.Y.Z", plugins)
		}
	})
	t.Run("grafana publishes its web interface on 3000", func(t *testing.T) {
		if got := grafana.published(t)["3000"]; got != "3000" {
			t.Errorf("host port 3000 goes to container port %q, want 3000", got)
		}
	})
	t.Run("grafana waits for clickhouse to be healthy", func(t *testing.T) {
		if got := grafana.DependsOn["clickhouse"].Condition; got != "service_healthy" {
			t.Errorf("grafana waits for clickhouse with condition %q, want service_healthy", got)
		}
	})
	t.Run("grafana mounts the data source and dashboard provisioning", func(t *testing.T) {
		for dir, file := range map[string]string{"datasources": grafanaDataSourceFile, "dashboards": grafanaProviderFile} {
			target := "/etc/grafana/provisioning/" + dir
			src := mountedAt(mounts["grafana"], target)
			if src == "" {
				// or the whole provisioning directory
				if whole := mountedAt(mounts["grafana"], "/etc/grafana/provisioning"); whole != "" {
					src = path.Join(whole, dir)
				}
			}
			if want := path.Dir(file); src != want {
				t.Errorf("%s is mounted from %q, want %s", target, src, want)
			}
		}
	})
	t.Run("grafana mounts the dashboards where the provider reads them", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(repoRoot, grafanaProviderFile))
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Providers []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &p); err != nil {
			t.Fatalf("%s: %v", grafanaProviderFile, err)
		}
		if len(p.Providers) != 1 || p.Providers[0].Type != "file" {
			t.Fatalf("%s: want one provider of type file, have %+v", grafanaProviderFile, p.Providers)
		}
		target := path.Clean(p.Providers[0].Options.Path)
		if got, want := mountedAt(mounts["grafana"], target), path.Dir(grafanaDashboardFile); got != want {
			t.Errorf("the provider reads %s, which is mounted from %q, want %s", target, got, want)
		}
	})
	users := []struct {
		service, command, user string
	}{
		{"sink", "run", "leadpipe_writer"},
		{"dashboard", "dashboard", "marketer"},
	}
	for _, u := range users {
		t.Run(u.service+" runs leadpipe "+u.command+" as "+u.user+" with its password", func(t *testing.T) {
			s, ok := f.Services[u.service]
			if !ok {
				t.Fatalf("docker-compose.yml has no service %q", u.service)
			}
			if len(s.Command) == 0 || s.Command[0] != u.command {
				t.Errorf("command is %q, want leadpipe %s ...", s.Command, u.command)
			}
			if slices.ContainsFunc(s.Command, func(a string) bool { return strings.HasPrefix(a, "--clickhouse-user") }) {
				t.Fatalf("command %q names the user; the test reads LEADPIPE_CLICKHOUSE_USER", s.Command)
			}
			if got := s.Environment["LEADPIPE_CLICKHOUSE_USER"]; got != u.user {
				t.Errorf("LEADPIPE_CLICKHOUSE_USER is %q, want %s", got, u.user)
			}
			if got := s.Environment["LEADPIPE_CLICKHOUSE_PASSWORD"]; got != passwords[u.user] {
				t.Errorf("LEADPIPE_CLICKHOUSE_PASSWORD is %q, want the password users.sql gives %s (%q)", got, u.user, passwords[u.user])
			}
		})
	}
	t.Run("the dashboard publishes its web page on 8080", func(t *testing.T) {
		s := f.Services["dashboard"]
		if !slices.Contains(s.Command, "0.0.0.0:8080") {
			t.Errorf("command %q does not listen on 0.0.0.0:8080", s.Command)
		}
		if got := s.published(t)["8080"]; got != "8080" {
			t.Errorf("host port 8080 goes to container port %q, want 8080", got)
		}
	})
}
