package api

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/revp"
)

// These tests hold api/openapi.json to the code: its paths to routes(), its
// schemas to the structs of types.go, its filters to what the handlers
// accept. Helpers are prefixed oa so as not to collide with the package's
// other tests.

// oaDoc is the embedded document, decoded.
func oaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// oaMap returns v[keys...] as an object, failing the test if it is not one.
func oaMap(t *testing.T, v any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("openapi.json: parent of %q is %T, not an object", k, v)
		}
		v = m[k]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("openapi.json: %s is %T, not an object", strings.Join(keys, "."), v)
	}
	return m
}

// oaAPI is an API over a pool of no hosts.
func oaAPI(t *testing.T) *API {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := hostpool.New(nil, hostpool.DefaultOptions, hostpool.NewMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	a := New(pool, DefaultOptions, log)
	t.Cleanup(a.Close)
	return a
}

func TestOpenAPIShape(t *testing.T) {
	doc := oaDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %q, want 3.x", v)
	}
	info := oaMap(t, doc, "info")
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s is empty", k)
		}
	}
	if servers, _ := doc["servers"].([]any); len(servers) == 0 || oaMap(t, servers[0])["url"] != Prefix {
		t.Errorf("servers = %v, want one at %s", doc["servers"], Prefix)
	}
	if oaMap(t, doc, "components", "securitySchemes", "basicAuth")["scheme"] != "basic" {
		t.Error("no basicAuth security scheme")
	}
	for path, item := range oaMap(t, doc, "paths") {
		for method, op := range item.(map[string]any) {
			if method != "get" && method != "parameters" {
				t.Errorf("%s %s: the API is read-only: only get operations", method, path)
				continue
			}
			if method == "get" && len(oaMap(t, op, "responses")) == 0 {
				t.Errorf("GET %s: no responses", path)
			}
		}
	}
	oaCheckRefs(t, doc, doc, "")
}

// oaCheckRefs fails for every $ref under v that does not resolve in doc.
func oaCheckRefs(t *testing.T, doc, v any, at string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			keys := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
			if !strings.HasPrefix(ref, "#/") || oaLookup(doc, keys) == nil {
				t.Errorf("%s: $ref %s does not resolve", at, ref)
			}
		}
		for k, e := range v {
			oaCheckRefs(t, doc, e, at+"/"+k)
		}
	case []any:
		for i, e := range v {
			oaCheckRefs(t, doc, e, at+"/"+strconv.Itoa(i))
		}
	}
}

func oaLookup(v any, keys []string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// registeredPaths reads the paths routes() hands to a.handle from api.go's
// source, so that a new endpoint cannot be added without its document.
func registeredPaths(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "api.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "routes" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			lit, isLit := call.Args[0].(*ast.BasicLit)
			if ok && sel.Sel.Name == "handle" && isLit && lit.Kind == token.STRING {
				p, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			return true
		})
		return false
	})
	if len(paths) == 0 {
		t.Fatal("found no a.handle calls in routes()")
	}
	sort.Strings(paths)
	return paths
}

var oaPathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestOpenAPIPaths: every path routes() registers is documented and every
// documented path reaches its own handler, not the catch-all 404.
func TestOpenAPIPaths(t *testing.T) {
	doc := oaDoc(t)
	var documented []string
	for p := range oaMap(t, doc, "paths") {
		documented = append(documented, p)
	}
	sort.Strings(documented)
	if reg := registeredPaths(t); !slices.Equal(reg, documented) {
		t.Fatalf("routes() registers %q\nopenapi.json documents %q", reg, documented)
	}
	a := oaAPI(t)
	for _, p := range documented {
		target := Prefix + oaPathParam.ReplaceAllString(p, "x")
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if _, pattern := a.mux.Handler(req); pattern != "GET "+Prefix+p {
			t.Errorf("GET %s is served by pattern %q, want %q", target, pattern, "GET "+Prefix+p)
		}
		rec := oaServe(t, doc, a, p, req)
		if rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "no such endpoint") {
			t.Errorf("GET %s: the catch-all 404: %s", target, rec.Body)
		}
		if rec.Code == http.StatusNotImplemented {
			t.Errorf("GET %s: still a stub: %s", target, rec.Body)
		}
	}
}

// oaStreams says whether path answers a stream (text/event-stream).
func oaStreams(t *testing.T, doc map[string]any, path string) bool {
	content, _ := oaLookup(doc, []string{"paths", path, "get", "responses", "200", "content"}).(map[string]any)
	_, ok := content["text/event-stream"]
	return ok
}

// TestOpenAPIParameters: every documented parameter is accepted with its
// example value, and on every path an undocumented one is a 400 that
// names it.
func TestOpenAPIParameters(t *testing.T) {
	doc := oaDoc(t)
	a := oaAPI(t)
	for path := range oaMap(t, doc, "paths") {
		target := Prefix + oaPathParam.ReplaceAllString(path, "x")
		params, _ := oaLookup(doc, []string{"paths", path, "get", "parameters"}).([]any)
		for _, p := range params {
			p := p.(map[string]any)
			if ref, ok := p["$ref"].(string); ok {
				p = oaMap(t, oaLookup(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")))
			}
			req := httptest.NewRequest(http.MethodGet, target, nil)
			name, values := p["name"].(string), oaExampleValues(t, p["example"])
			switch p["in"] {
			case "query":
				req.URL.RawQuery = url.Values{name: values}.Encode()
			case "header":
				req.Header[name] = values
			default:
				continue
			}
			if rec := oaServe(t, doc, a, path, req); rec.Code == http.StatusBadRequest {
				t.Errorf("GET %s %s %q: %s", path, name, values, rec.Body)
			}
		}
		req := httptest.NewRequest(http.MethodGet, target+"?hots=local", nil)
		rec := oaServe(t, doc, a, path, req)
		var e Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusBadRequest ||
			e.Status != http.StatusBadRequest || !strings.Contains(e.Error, "hots") {
			t.Errorf("GET %s?hots=local: %d %s, want a 400 that names hots", path, rec.Code, rec.Body)
		}
	}
}

// oaServe answers req; a stream's client is gone before it starts, so
// that the stream ends at once.
func oaServe(t *testing.T, doc map[string]any, a *API, path string, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if oaStreams(t, doc, path) {
		cancel()
	}
	defer cancel()
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req.WithContext(ctx))
	return rec
}

// oaExampleValues is a parameter's example as query values.
func oaExampleValues(t *testing.T, ex any) []string {
	t.Helper()
	switch ex := ex.(type) {
	case []any:
		var vs []string
		for _, e := range ex {
			vs = append(vs, oaExampleValues(t, e)...)
		}
		return vs
	case string:
		return []string{ex}
	case bool:
		return []string{strconv.FormatBool(ex)}
	case float64:
		return []string{strconv.FormatFloat(ex, 'f', -1, 64)}
	}
	t.Fatalf("parameter example %v (%T): give every parameter an example", ex, ex)
	return nil
}

// TestOpenAPIServed: GET and HEAD /api/v1/openapi.json answer the document.
func TestOpenAPIServed(t *testing.T) {
	a := oaAPI(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(method, Prefix+"/openapi.json", nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %q", method, rec.Code, rec.Header().Get("Content-Type"))
		}
		if method == http.MethodGet && rec.Body.String() != string(openAPIDoc) {
			t.Fatalf("GET answered %d bytes, not the %d of openapi.json", rec.Body.Len(), len(openAPIDoc))
		}
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Prefix+"/openapi.json", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// TestOpenAPIEnums: the enums the code has lists of are the document's.
func TestOpenAPIEnums(t *testing.T) {
	schemas := oaMap(t, oaDoc(t), "components", "schemas")
	for _, c := range []struct {
		schema, property string
		want             []string
	}{
		{"ContainerState", "", hostpool.States},
		{"HealthStatus", "", hostpool.HealthStatuses},
		{"EventType", "", hostpool.EventTypes},
		{"Problem", "reason", revp.Reasons},
		{"Route", "grammar", []string{revp.PortIndexed, revp.Flat}},
		{"Message", "type", []string{string(hostpool.KindDockerEvent), string(hostpool.KindContainerUpdate),
			string(hostpool.KindHostStatus), string(hostpool.KindLagged)}},
	} {
		s := oaMap(t, schemas, c.schema)
		if c.property != "" {
			s = oaMap(t, s, "properties", c.property)
		}
		var got []string
		for _, v := range s["enum"].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s: enum %q, want %q", c.schema, c.property, got, c.want)
		}
	}
}

// oaRoots are the types the API answers with; Message.Data is any, so the
// types it carries are roots too.
var oaRoots = []any{HostList{}, Host{}, ContainerList{}, Container{}, ContainerStats{}, RouteList{},
	ConflictList{}, Message{}, DockerEvent{}, ContainerUpdate{}, HostStatus{}, Error{}}

// TestOpenAPISchemas: each struct reachable from the answers is the schema
// of its name, field by field: name, type, required (not omitempty) and
// nullable (a pointer); and every object schema is such a struct.
func TestOpenAPISchemas(t *testing.T) {
	schemas := oaMap(t, oaDoc(t), "components", "schemas")
	seen := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt.PkgPath() != reflect.TypeFor[API]().PkgPath() || seen[rt.Name()] {
			return
		}
		seen[rt.Name()] = true
		s, ok := schemas[rt.Name()].(map[string]any)
		if !ok {
			t.Errorf("%s: no schema components.schemas.%s", rt.Name(), rt.Name())
			return
		}
		oaCheckStruct(t, schemas, rt, s)
		for i := range rt.NumField() {
			walk(rt.Field(i).Type)
		}
	}
	for _, r := range oaRoots {
		walk(reflect.TypeOf(r))
	}
	for name, s := range schemas {
		if s.(map[string]any)["type"] == "object" && !seen[name] {
			t.Errorf("schema %s is no type of types.go the API answers with", name)
		}
	}
}

// oaCheckStruct compares struct rt with its schema s.
func oaCheckStruct(t *testing.T, schemas map[string]any, rt reflect.Type, s map[string]any) {
	t.Helper()
	props := oaMap(t, s, "properties")
	var required []string
	for _, r := range s["required"].([]any) {
		required = append(required, r.(string))
	}
	fields := map[string]bool{}
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" || name == "" {
			t.Errorf("%s.%s: every field needs a json name (tag %q)", rt.Name(), f.Name, tag)
			continue
		}
		fields[name] = true
		at := rt.Name() + "." + name
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: not in the schema's properties", at)
			continue
		}
		omitempty := slices.Contains(strings.Split(opts, ","), "omitempty")
		if omitempty == slices.Contains(required, name) {
			t.Errorf("%s: omitempty is %v, so it must be required only without it", at, omitempty)
		}
		if f.Type.Kind() == reflect.Pointer && !omitempty && p["nullable"] != true {
			t.Errorf("%s: a pointer: nullable: true", at)
		}
		oaCheckType(t, schemas, at, f.Type, p)
	}
	for name := range props {
		if !fields[name] {
			t.Errorf("%s.%s: in the schema, not in the struct", rt.Name(), name)
		}
	}
	for _, r := range required {
		if !fields[r] {
			t.Errorf("%s: required %q is no field", rt.Name(), r)
		}
	}
}

// oaCheckType compares a Go type with the schema p that describes it.
func oaCheckType(t *testing.T, schemas map[string]any, at string, rt reflect.Type, p map[string]any) {
	t.Helper()
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if all, ok := p["allOf"].([]any); ok && len(all) == 1 {
		p = all[0].(map[string]any) // how 3.0 makes a $ref nullable
	}
	if ref, ok := p["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if rt.Kind() == reflect.Struct && rt != reflect.TypeFor[time.Time]() {
			if name != rt.Name() {
				t.Errorf("%s: $ref %s, want %s", at, name, rt.Name())
			}
			return
		}
		p, _ = schemas[name].(map[string]any) // an enum: check its type
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Float64: "number",
		reflect.Int: "integer", reflect.Int64: "integer", reflect.Uint64: "integer",
		reflect.Slice: "array", reflect.Map: "object", reflect.Struct: "$ref",
	}[rt.Kind()]
	switch {
	case rt == reflect.TypeFor[time.Time]():
		if p["type"] != "string" || p["format"] != "date-time" {
			t.Errorf("%s: a time: type string, format date-time", at)
		}
	case rt.Kind() == reflect.Interface:
		if p["oneOf"] == nil {
			t.Errorf("%s: an interface: oneOf", at)
		}
	case want == "":
		t.Errorf("%s: Go kind %s has no schema type here: extend the test", at, rt.Kind())
	case p["type"] != want:
		t.Errorf("%s: type %v, want %s (Go %s)", at, p["type"], want, rt)
	case rt.Kind() == reflect.Slice:
		oaCheckType(t, schemas, at+"[]", rt.Elem(), oaMap(t, p, "items"))
	case rt.Kind() == reflect.Map:
		oaCheckType(t, schemas, at+"{}", rt.Elem(), oaMap(t, p, "additionalProperties"))
	}
}

// TestOpenAPIFilterLists: the query parameters documented for /containers
// and /events are exactly those their parsers know.
func TestOpenAPIFilterLists(t *testing.T) {
	doc := oaDoc(t)
	var events []string
	for k := range streamParams {
		events = append(events, k)
	}
	for path, known := range map[string][]string{"/containers": containerParams, "/events": events} {
		var documented []string
		params, _ := oaLookup(doc, []string{"paths", path, "get", "parameters"}).([]any)
		for _, p := range params {
			if p := p.(map[string]any); p["in"] == "query" {
				documented = append(documented, p["name"].(string))
			}
		}
		known = slices.Sorted(slices.Values(known))
		if sort.Strings(documented); !slices.Equal(documented, known) {
			t.Errorf("%s: documented %q, the parser knows %q", path, documented, known)
		}
	}
}
