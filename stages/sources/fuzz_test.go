package sources_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
	"github.com/leadpipe/leadpipe/stages/sources"
)

// FuzzFromMeta: no payload panics the adapter, and whatever it maps
// encodes. (`make fuzz` runs it.)
func FuzzFromMeta(f *testing.F) {
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "meta", "sources.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "meta", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":12345678901234567890123,"created_time":1440120384}`))
	f.Add([]byte(`{"id":"1","created_time":"2015-02-28T08:49:14+0000","custom_disclaimer_responses":[{"checkbox_key":"optional_1","is_checked":"1"},{"checkbox_key":"optional_1","is_checked":""}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		lead, _, err := sources.FromMeta(payload, cfg)
		if err != nil {
			return
		}
		if _, err := json.Marshal(&lead); err != nil {
			t.Fatalf("a mapped lead does not encode: %v", err)
		}
	})
}

// FuzzFromCDP: no Segment or RudderStack message panics the adapters, and
// whatever they map encodes. (`make fuzz` runs it.)
func FuzzFromCDP(f *testing.F) {
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "segment", "sources.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, dir := range []string{"segment", "rudderstack"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"track","event":"Order Completed","messageId":"m","userId":1,"timestamp":"2023-01-01T00:00:00Z","properties":{"revenue":1e308,"currency":"eur"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, from := range []func([]byte, *sources.Config) ([]schemas.Event, sources.Report, error){sources.FromSegment, sources.FromRudderStack} {
			evs, _, err := from(payload, cfg)
			if err != nil {
				continue
			}
			for _, ev := range evs {
				if _, err := json.Marshal(ev); err != nil {
					t.Fatalf("a mapped event does not encode: %v", err)
				}
			}
		}
	})
}

// FuzzCSVRows: no list file panics the reader or stops it before its end.
func FuzzCSVRows(f *testing.F) {
	cfg, err := sources.LoadConfig(filepath.Join("testdata", "csv", "sources.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	list := cfg.CSV.Lists["fair-2026"]
	b, err := os.ReadFile(filepath.Join("testdata", "csv", "fair.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("Badge,Scanned At,E-mail,Mobile,Name,Surname,Company,Role,Country,Newsletter,Consent At,Consent Ref\n\"unterminated,\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		sources.CSVRows(bytes.NewReader(file), "fair-2026", "fuzz.csv", &list, func(int, *schemas.Lead, sources.Report, error) error { return nil })
	})
}
