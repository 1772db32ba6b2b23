package sources_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

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
