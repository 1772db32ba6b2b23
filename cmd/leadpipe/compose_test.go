package main

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/leadpipe/leadpipe/stages/pseudonym"
)

// The tests below stand in for `docker compose up`, which cannot run here:
// they read docker-compose.yml and the Dockerfile at the repository root and
// check them against the CLI itself.

// repoRoot is the repository root, seen from cmd/leadpipe.
const repoRoot = "../.."

// composeFile is the part of the Compose file the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       *composeBuild                `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Environment composeEnv                   `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Secrets     []string                     `yaml:"secrets"`
	Profiles    []string                     `yaml:"profiles"`
	Restart     string                       `yaml:"restart"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

// composeBuild is a build section, short (`build: .`) or long.
type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *composeBuild) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain composeBuild
	return n.Decode((*plain)(b))
}

// composeEnv is an environment section, as a map or as a list of NAME=value.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		(*e)[k] = v
	}
	return nil
}

// builtFromRepo tells whether the service runs the leadpipe image.
func (s composeService) builtFromRepo() bool { return s.Build != nil }

// published maps each host port the service publishes to its container
// port. It reads the short syntax: [IP:]HOST:CONTAINER[/PROTOCOL].
func (s composeService) published(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range s.Ports {
		p, _, _ = strings.Cut(p, "/")
		parts := strings.Split(p, ":")
		if len(parts) < 2 {
			t.Errorf("port %q publishes no host port; write HOST:CONTAINER", p)
			continue
		}
		out[parts[len(parts)-2]] = parts[len(parts)-1]
	}
	return out
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return f
}

// leadpipeServices returns the names of the services that run the leadpipe
// image, sorted.
func (f composeFile) leadpipeServices() []string {
	var names []string
	for name, s := range f.Services {
		if s.builtFromRepo() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// commandFlags returns the flag names of a subcommand as its --help lists
// them, and fails the test unless --help exits 0.
func commandFlags(t *testing.T, sub string) map[string]bool {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{sub, "--help"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("leadpipe %s --help exited %d: %s", sub, code, stderr.String())
	}
	flags := map[string]bool{}
	re := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9][a-z0-9-]*)`)
	for _, m := range re.FindAllStringSubmatch(stdout.String()+stderr.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("leadpipe %s --help lists no flags:\n%s", sub, stderr.String())
	}
	return flags
}

func TestComposeServicesRunTheExpectedImages(t *testing.T) {
	f := loadCompose(t)
	cases := []struct {
		name        string
		service     string
		imagePrefix string // "" for a service built from the repository
	}{
		{"kafka runs the official Apache Kafka image", "kafka", "apache/kafka:"},
		{"clickhouse runs the official ClickHouse server image", "clickhouse", "clickhouse/clickhouse-server:"},
		{"topics is built from the repository's Dockerfile", "topics", ""},
		{"migrate is built from the repository's Dockerfile", "migrate", ""},
		{"classify is built from the repository's Dockerfile", "classify", ""},
		{"enrich is built from the repository's Dockerfile", "enrich", ""},
		{"sink is built from the repository's Dockerfile", "sink", ""},
		{"generator is built from the repository's Dockerfile", "generator", ""},
		{"retention is built from the repository's Dockerfile", "retention", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := f.Services[tc.service]
			if !ok {
				t.Fatalf("docker-compose.yml has no service %q", tc.service)
			}
			if tc.imagePrefix != "" {
				if !strings.HasPrefix(s.Image, tc.imagePrefix) {
					t.Errorf("image is %q, want %s...", s.Image, tc.imagePrefix)
				}
				if s.Build != nil {
					t.Errorf("service builds an image; it should run %s...", tc.imagePrefix)
				}
				if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
					t.Error("service has no healthcheck; the services after it wait for it to be healthy")
				}
				return
			}
			if s.Build == nil {
				t.Fatal("service has no build section")
			}
			if s.Build.Context != "." {
				t.Errorf("build context is %q, want . (the repository root)", s.Build.Context)
			}
			dockerfile := cmp.Or(s.Build.Dockerfile, "Dockerfile")
			if _, err := os.Stat(filepath.Join(repoRoot, s.Build.Context, dockerfile)); err != nil {
				t.Errorf("build names a Dockerfile that is not there: %v", err)
			}
		})
	}
}

func TestComposePublishesThePorts(t *testing.T) {
	f := loadCompose(t)
	cases := []struct {
		name      string
		service   string
		host      string
		container string
	}{
		{"kafka publishes its broker listener on 9092", "kafka", "9092", "9092"},
		{"clickhouse publishes its native protocol on 9000", "clickhouse", "9000", "9000"},
		{"clickhouse publishes its HTTP interface on 8123", "clickhouse", "8123", "8123"},
		{"classify publishes its metrics on 9464", "classify", "9464", "9464"},
		{"enrich publishes its metrics on 9465", "enrich", "9465", "9464"},
		{"sink publishes its metrics on 9466", "sink", "9466", "9464"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := f.Services[tc.service]
			if !ok {
				t.Fatalf("docker-compose.yml has no service %q", tc.service)
			}
			got, ok := s.published(t)[tc.host]
			if !ok {
				t.Fatalf("host port %s is not published (ports: %q)", tc.host, s.Ports)
			}
			if got != tc.container {
				t.Errorf("host port %s goes to container port %s, want %s", tc.host, got, tc.container)
			}
		})
	}
	t.Run("no two services publish the same host port", func(t *testing.T) {
		owner := map[string]string{}
		for name, s := range f.Services {
			for host := range s.published(t) {
				if other, dup := owner[host]; dup {
					t.Errorf("host port %s is published by both %s and %s", host, other, name)
				}
				owner[host] = name
			}
		}
	})
	t.Run("each stage's metrics port is the container port of --metrics-addr", func(t *testing.T) {
		for _, name := range []string{"classify", "enrich", "sink"} {
			s := f.Services[name]
			addr := cmp.Or(s.Environment["LEADPIPE_METRICS_ADDR"], defaultRunConfig().metricsAddr)
			_, port, _ := strings.Cut(addr, ":")
			if !slices.Contains(slices.Sorted(maps.Values(s.published(t))), port) {
				t.Errorf("%s serves metrics on %q but publishes container ports %v", name, addr, slices.Sorted(maps.Values(s.published(t))))
			}
		}
	})
}

func TestComposeCommandsAreOnesTheCLIAccepts(t *testing.T) {
	f := loadCompose(t)
	for _, name := range f.leadpipeServices() {
		s := f.Services[name]
		t.Run(name+" runs a command the CLI accepts", func(t *testing.T) {
			if len(s.Command) == 0 {
				t.Fatal("service has no command (the image's default only prints help); write it as a list")
			}
			var stdout, stderr bytes.Buffer
			args := append(slices.Clone(s.Command), "--help")
			if code := dispatch(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("leadpipe %s exited %d:\n%s", strings.Join(args, " "), code, stderr.String())
			}
			if s.Command[0] != "run" {
				return
			}
			cfg := defaultRunConfig()
			fs := newFlagSet("run", runSynopsis, io.Discard, io.Discard)
			cfg.register(fs)
			if err := fs.Parse(s.Command[1:]); err != nil {
				t.Fatalf("leadpipe %s: %v", strings.Join(s.Command, " "), err)
			}
			stages, err := parseStages(fs.Args())
			if err != nil {
				t.Fatalf("leadpipe %s: %v", strings.Join(s.Command, " "), err)
			}
			// The environment as the command applies it, then the checks the
			// command makes before it connects to anything.
			for k, v := range s.Environment {
				fl := fs.Lookup(flagOfEnv(k))
				if fl == nil || fl.Changed {
					continue
				}
				if err := fs.Set(fl.Name, v); err != nil {
					t.Errorf("%s=%q: %v", k, v, err)
				}
			}
			if err := cfg.validate(stages); err != nil {
				t.Errorf("leadpipe %s with the service's environment: %v", strings.Join(s.Command, " "), err)
			}
		})
	}
	t.Run("the services together run every stage", func(t *testing.T) {
		var running []string
		for _, name := range f.leadpipeServices() {
			cmd := f.Services[name].Command
			if len(cmd) == 0 || cmd[0] != "run" {
				continue
			}
			fs := newFlagSet("run", runSynopsis, io.Discard, io.Discard)
			cfg := defaultRunConfig()
			cfg.register(fs)
			if fs.Parse(cmd[1:]) != nil {
				continue // reported above
			}
			stages, _ := parseStages(fs.Args())
			running = append(running, stages...)
		}
		for _, st := range stageNames {
			if !slices.Contains(running, st) {
				t.Errorf("no service runs the %s stage", st)
			}
		}
	})
}

// flagOfEnv is the flag whose environment variable is env (the inverse of
// envName), or "" when env is not a LEADPIPE_* variable.
func flagOfEnv(env string) string {
	name, ok := strings.CutPrefix(env, "LEADPIPE_")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

func TestComposeEnvironmentNamesRealFlags(t *testing.T) {
	f := loadCompose(t)
	for _, name := range f.leadpipeServices() {
		s := f.Services[name]
		if len(s.Command) == 0 {
			continue // reported by TestComposeCommandsAreOnesTheCLIAccepts
		}
		t.Run("every LEADPIPE_ variable of "+name+" names a flag of leadpipe "+s.Command[0], func(t *testing.T) {
			flags := commandFlags(t, s.Command[0])
			for k := range s.Environment {
				if !strings.HasPrefix(k, "LEADPIPE_") || k == "LEADPIPE_HMAC_KEY" || k == "LEADPIPE_CLICKHOUSE_PASSWORD" {
					continue
				}
				fl := flagOfEnv(k)
				if !flags[fl] || envName(fl) != k {
					t.Errorf("%s names no flag of leadpipe %s: the command ignores it", k, s.Command[0])
				}
			}
		})
	}
}

func TestComposeStartsServicesInOrder(t *testing.T) {
	f := loadCompose(t)
	cases := []struct {
		name      string
		service   string
		dependsOn string
		condition string
	}{
		{"topics waits for kafka to be healthy", "topics", "kafka", "service_healthy"},
		{"migrate waits for clickhouse to be healthy", "migrate", "clickhouse", "service_healthy"},
		{"classify waits for the topics to be created", "classify", "topics", "service_completed_successfully"},
		{"classify waits for the schema to be applied", "classify", "migrate", "service_completed_successfully"},
		{"enrich waits for the topics to be created", "enrich", "topics", "service_completed_successfully"},
		{"enrich waits for the schema to be applied", "enrich", "migrate", "service_completed_successfully"},
		{"sink waits for the topics to be created", "sink", "topics", "service_completed_successfully"},
		{"sink waits for the schema to be applied", "sink", "migrate", "service_completed_successfully"},
		{"generator waits for the topics to be created", "generator", "topics", "service_completed_successfully"},
		{"retention waits for the schema to be applied", "retention", "migrate", "service_completed_successfully"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dep, ok := f.Services[tc.service].DependsOn[tc.dependsOn]
			if !ok {
				t.Fatalf("%s does not depend on %s", tc.service, tc.dependsOn)
			}
			if dep.Condition != tc.condition {
				t.Errorf("%s waits for %s with condition %q, want %q", tc.service, tc.dependsOn, dep.Condition, tc.condition)
			}
		})
	}
	for _, name := range stageNames {
		t.Run(name+" restarts unless stopped", func(t *testing.T) {
			if got := f.Services[name].Restart; got != "unless-stopped" {
				t.Errorf("restart is %q, want unless-stopped", got)
			}
		})
	}
	t.Run("the generator runs only under the demo profile", func(t *testing.T) {
		if !slices.Equal(f.Services["generator"].Profiles, []string{"demo"}) {
			t.Errorf("profiles are %q, want [demo]", f.Services["generator"].Profiles)
		}
	})
}

func TestComposeStagesReadTheHMACKeyFromASecret(t *testing.T) {
	f := loadCompose(t)
	for _, name := range stageNames {
		t.Run(name+" reads a key file mounted from a compose secret", func(t *testing.T) {
			s := f.Services[name]
			file := s.Environment["LEADPIPE_HMAC_KEY_FILE"]
			secret, ok := strings.CutPrefix(file, "/run/secrets/")
			if !ok {
				t.Fatalf("LEADPIPE_HMAC_KEY_FILE is %q, want /run/secrets/NAME", file)
			}
			if !slices.Contains(s.Secrets, secret) {
				t.Errorf("service does not mount the secret %q (secrets: %q)", secret, s.Secrets)
			}
			src, ok := f.Secrets[secret]
			if !ok || src.File == "" {
				t.Fatalf("docker-compose.yml declares no file for the secret %q", secret)
			}
			if _, err := pseudonym.Load(filepath.Join(repoRoot, src.File), "", "k1"); err != nil {
				t.Errorf("the secret's file %s is not a key leadpipe accepts: %v", src.File, err)
			}
		})
	}
}

func TestComposeDockerfileBuildsTheCLI(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(b)
	cases := []struct {
		name string
		re   string
	}{
		{"the builder is the Go toolchain image", `(?m)^FROM golang:1\.\d+`},
		{"the binary is built static from ./cmd/leadpipe", `(?m)CGO_ENABLED=0 go build .*-o /leadpipe \./cmd/leadpipe\s*$`},
		{"the binary is copied from the builder", `(?m)^COPY --from=\S+ /leadpipe /leadpipe\s*$`},
		{"the entrypoint is the leadpipe binary", `(?m)^ENTRYPOINT \["/leadpipe"\]\s*$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !regexp.MustCompile(tc.re).MatchString(dockerfile) {
				t.Errorf("Dockerfile has no line matching %s", tc.re)
			}
		})
	}
	t.Run("the build context leaves the secrets and the git history out", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for _, want := range []string{".git", "deploy/hmac_key*"} {
			if !slices.Contains(lines, want) {
				t.Errorf(".dockerignore does not exclude %s", want)
			}
		}
	})
}

// The cluster profile runs ZooKeeper and three ClickHouse nodes with the
// overlay that defines the cluster migrate-cluster and sink-cluster name,
// and the second sink consumes in a group of its own.
func TestComposeClusterProfileNamesTheClusterItDefines(t *testing.T) {
	f := loadCompose(t)
	mounts := composeMounts(t)
	overlay, err := os.ReadFile(filepath.Join(repoRoot, "deploy/clickhouse/compose-cluster.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zookeeper", "ch-1", "ch-2", "ch-3", "migrate-cluster", "sink-cluster"} {
		s, ok := f.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
		if !slices.Equal(s.Profiles, []string{"cluster"}) {
			t.Errorf("%s is in profiles %v, want [cluster]", name, s.Profiles)
		}
		if strings.HasPrefix(name, "ch-") {
			if got := mountedAt(mounts[name], "/etc/clickhouse-server/config.d/cluster.xml"); got != "deploy/clickhouse/compose-cluster.xml" {
				t.Errorf("%s mounts %q as its cluster overlay", name, got)
			}
			if !strings.Contains(string(overlay), "<host>"+name+"</host>") {
				t.Errorf("%s is not a replica of the overlay's remote_servers", name)
			}
		}
	}
	for _, name := range []string{"migrate-cluster", "sink-cluster"} {
		cmd := f.Services[name].Command
		i := slices.Index(cmd, "--clickhouse-cluster")
		if i < 0 || i+1 == len(cmd) || !strings.Contains(string(overlay), "<"+cmd[i+1]+">") {
			t.Errorf("%s runs %q: it must name the cluster of compose-cluster.xml with --clickhouse-cluster", name, cmd)
		}
	}
	if cmd := f.Services["sink-cluster"].Command; !slices.Contains(cmd, "--group-prefix") {
		t.Errorf("sink-cluster runs %q: in the sink's group it would split the records with it rather than land them all", cmd)
	}
}
