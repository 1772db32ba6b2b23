package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/leadpipe/leadpipe/schemas"
)

// TestEveryCopyOfTheVocabularyMatchesSchemas: the purposes, consent
// actions and statuses, behavior actions, source kinds and request types
// are declared once, in package schemas (which its scanner uses); every
// other copy is checked against them here: the engine's purpose table and
// Purposes' JSON fields, the JSON Schema files for other teams, the
// ClickHouse columns of the bases, and the policy's request types.
func TestEveryCopyOfTheVocabularyMatchesSchemas(t *testing.T) {
	if got := purposeNames[:]; !slices.Equal(got, schemas.Purposes) {
		t.Errorf("classify's purpose table %v, schemas.Purposes %v", got, schemas.Purposes)
	}
	var fields []string
	rt := reflect.TypeFor[Purposes]()
	for i := range rt.NumField() {
		fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	if !slices.Equal(fields, schemas.Purposes) {
		t.Errorf("the JSON fields of classify.Purposes %v, schemas.Purposes %v", fields, schemas.Purposes)
	}

	enums := map[string][]string{} // "file:/json/path" to enum
	for _, f := range []string{"lead", "consent", "behavior"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "schemas", f+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		collectEnums(doc, f+":", enums)
	}
	for path, want := range map[string][]string{
		"lead:/properties/consents/items/properties/purpose": schemas.Purposes,
		"lead:/properties/consents/items/properties/status":  schemas.ConsentStatuses,
		"lead:/properties/source/properties/kind":            schemas.SourceKinds,
		"lead:/properties/request/properties/type":           schemas.RequestTypes,
		"consent:/properties/purpose":                        append(slices.Clone(schemas.Purposes), schemas.PurposeAll),
		"consent:/properties/action":                         schemas.ConsentActions,
		"behavior:/properties/action":                        schemas.BehaviorActions,
	} {
		if got := enums[path]; !slices.Equal(got, want) {
			t.Errorf("%s: the JSON Schema says %v, package schemas %v", path, got, want)
		}
	}

	ddl, err := os.ReadFile(filepath.Join("..", "..", "analytics", "migrations", "0001_tables.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range schemas.Purposes {
		if n := strings.Count(string(ddl), "basis_"+p+" String"); n != 2 {
			t.Errorf("the ClickHouse tables have %d columns basis_%s, want 2 (classifications, leads)", n, p)
		}
	}
	for _, r := range DefaultPolicy().SalesFollowupRequests {
		if !slices.Contains(schemas.RequestTypes, r) {
			t.Errorf("the policy's sales_followup_requests names %q, which is not a request type", r)
		}
	}
}

// collectEnums records every "enum" of a JSON Schema document by its path.
func collectEnums(v any, path string, out map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		if e, ok := v["enum"].([]any); ok {
			var s []string
			for _, x := range e {
				s = append(s, x.(string))
			}
			out[path] = s
		}
		for k, x := range v {
			collectEnums(x, path+"/"+k, out)
		}
	case []any:
		for _, x := range v {
			collectEnums(x, path, out)
		}
	}
}
