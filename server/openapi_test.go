package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type openAPIOp struct {
	Role       string `json:"x-rota-role"`
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Security *[]any `json:"security"`
}

// TestOpenAPIMatchesRoutes walks the route table and the document both
// ways: every registered route is documented with its role and query
// parameters, and every documented operation is routed by the server's
// mux to exactly that route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noStart: true})
	r := e.do("GET", "/v1/openapi.json", "", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                       `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage        `json:"paths"`
		Comps   struct{ Schemas map[string]json.RawMessage } `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]openAPIOp{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	// Routes → document.
	for _, rt := range e.srv.routes {
		op, ok := documented[rt.pattern()]
		if !ok {
			t.Errorf("route %s is not in the OpenAPI document", rt.pattern())
			continue
		}
		if op.Role != rt.role.String() {
			t.Errorf("%s: document says role %q, the route needs %s", rt.pattern(), op.Role, rt.role)
		}
		if (rt.role == rolePublic) != (op.Security != nil && len(*op.Security) == 0) {
			t.Errorf("%s: security in the document does not match role %s", rt.pattern(), rt.role)
		}
		var query []string
		for _, p := range op.Parameters {
			if p.In == "query" {
				query = append(query, p.Name)
			}
		}
		slices.Sort(query)
		want := slices.Clone(rt.query)
		slices.Sort(want)
		if !slices.Equal(query, want) {
			t.Errorf("%s: document has query parameters %v, the handler reads %v", rt.pattern(), query, want)
		}
	}
	// Document → mux.
	for pattern := range documented {
		method, path, _ := strings.Cut(pattern, " ")
		req := httptest.NewRequest(method, samplePath(path, 1), nil)
		if _, got := e.srv.mux.Handler(req); got != pattern {
			t.Errorf("documented %s: the mux routes it to %q", pattern, got)
		}
	}
	if len(documented) != len(e.srv.routes) {
		t.Errorf("%d documented operations, %d routes", len(documented), len(e.srv.routes))
	}
	// Every schema reference resolves.
	for _, ref := range strings.Split(string(r.body), `"$ref": "#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		if _, ok := doc.Comps.Schemas[name]; !ok {
			t.Errorf("$ref to unknown schema %s", name)
		}
	}
}
