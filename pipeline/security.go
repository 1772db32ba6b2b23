package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/spf13/pflag"
)

// EnvSASLPassword holds the SASL password when no password file is given.
// A password is never a flag: flags show in `ps` and in shell histories.
const EnvSASLPassword = "LEADPIPE_KAFKA_SASL_PASSWORD"

// Security is how leadpipe reaches a Kafka cluster that requires TLS, SASL
// or both (SASL_SSL). The zero value is PLAINTEXT.
type Security struct {
	// TLS turns TLS on. CAFile (PEM) replaces the system's roots; CertFile
	// and KeyFile (PEM) are the client certificate for mutual TLS;
	// ServerName overrides the name checked in the broker's certificate.
	TLS        bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	// SASLMechanism is "plain", "scram-sha-256" or "scram-sha-512"; empty
	// for none. The password comes from SASLPasswordFile, or else from
	// the LEADPIPE_KAFKA_SASL_PASSWORD environment variable.
	SASLMechanism    string
	SASLUsername     string
	SASLPasswordFile string
}

// RegisterFlags binds the fields to flags on fs.
func (s *Security) RegisterFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&s.TLS, "kafka-tls", s.TLS, "connect to Kafka over TLS (implied by the other --kafka-tls-* flags)")
	fs.StringVar(&s.CAFile, "kafka-tls-ca-file", s.CAFile, "PEM file of the CA certificates that sign the brokers' (default: the system's)")
	fs.StringVar(&s.CertFile, "kafka-tls-cert-file", s.CertFile, "PEM file of the client certificate, for brokers that require one")
	fs.StringVar(&s.KeyFile, "kafka-tls-key-file", s.KeyFile, "PEM file of the client certificate's private key")
	fs.StringVar(&s.ServerName, "kafka-tls-server-name", s.ServerName, "name to check in the brokers' certificates (default: the host of each address)")
	fs.StringVar(&s.SASLMechanism, "kafka-sasl-mechanism", s.SASLMechanism, "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (default: no SASL)")
	fs.StringVar(&s.SASLUsername, "kafka-sasl-username", s.SASLUsername, "SASL user name")
	fs.StringVar(&s.SASLPasswordFile, "kafka-sasl-password-file", s.SASLPasswordFile, "file holding the SASL password (else "+EnvSASLPassword+")")
}

// usesTLS reports whether TLS is on, asked for or implied by a file.
func (s *Security) usesTLS() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != ""
}

// tlsConfig loads the TLS settings; nil when TLS is off.
func (s *Security) tlsConfig() (*tls.Config, error) {
	if !s.usesTLS() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-ca-file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kafka-tls-ca-file: %s holds no PEM certificate", s.CAFile)
		}
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, errors.New("--kafka-tls-cert-file and --kafka-tls-key-file go together")
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls-cert-file, --kafka-tls-key-file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// mechanism builds the SASL mechanism; nil when SASL is off. The error
// never holds the password.
func (s *Security) mechanism() (sasl.Mechanism, error) {
	if s.SASLMechanism == "" {
		if s.SASLUsername != "" || s.SASLPasswordFile != "" {
			return nil, errors.New("--kafka-sasl-username and --kafka-sasl-password-file need --kafka-sasl-mechanism")
		}
		return nil, nil
	}
	if s.SASLUsername == "" {
		return nil, errors.New("--kafka-sasl-mechanism needs --kafka-sasl-username")
	}
	password := os.Getenv(EnvSASLPassword)
	if s.SASLPasswordFile != "" {
		b, err := os.ReadFile(s.SASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if password == "" {
		return nil, fmt.Errorf("--kafka-sasl-mechanism needs a password: --kafka-sasl-password-file or %s", EnvSASLPassword)
	}
	switch strings.ToLower(s.SASLMechanism) {
	case "plain":
		return plain.Mechanism{Username: s.SASLUsername, Password: password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.SASLUsername, password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.SASLUsername, password)
	}
	return nil, fmt.Errorf("--kafka-sasl-mechanism: %q is not plain, scram-sha-256 or scram-sha-512", s.SASLMechanism)
}

// network is what every Kafka connection of a Config uses, built once
// and shared by the Config's copies.
type network struct {
	once      sync.Once
	dialer    *kafka.Dialer
	transport *kafka.Transport
	err       error
}

func (c *Config) network() *network {
	n := c.net
	if n == nil {
		n = new(network) // a Config not made by DefaultConfig: built each time
	}
	n.once.Do(func() {
		tlsCfg, err := c.Security.tlsConfig()
		if err != nil {
			n.err = err
			return
		}
		mech, err := c.Security.mechanism()
		if err != nil {
			n.err = err
			return
		}
		if tlsCfg == nil && mech == nil {
			return // PLAINTEXT: kafka-go's defaults
		}
		n.dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tlsCfg, SASLMechanism: mech}
		n.transport = &kafka.Transport{TLS: tlsCfg, SASL: mech}
	})
	return n
}

// Dialer is the dialer of readers, consumer groups and direct connections;
// nil means kafka-go's default (PLAINTEXT).
func (c *Config) Dialer() *kafka.Dialer { return c.network().dialer }

// Transport is the transport of writers and clients; nil means kafka-go's
// default (PLAINTEXT).
func (c *Config) Transport() kafka.RoundTripper {
	if t := c.network().transport; t != nil {
		return t
	}
	return nil
}

// Client returns a client of the cluster with the Config's security.
func (c *Config) Client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: timeout, Transport: c.Transport()}
}
