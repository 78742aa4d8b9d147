package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/detour-dns/detour/policy"
)

// routes builds the request multiplexer. Every route names the role it
// needs ("" for the open health checks); see auth.go.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	roles := map[string]string{}
	handle := func(pattern, role string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		roles[pattern] = role
	}
	handle("GET /healthz", "", s.handleHealthz)
	handle("GET /readyz", "", s.handleReadyz)
	handle("GET /v1/status", RoleRead, s.handleStatus)
	handle("GET /v1/members", RoleRead, s.handleMembers)
	handle("POST /v1/members", RoleAdmin, s.handleJoin)
	handle("DELETE /v1/members/{id}", RoleAdmin, s.handleRemove)
	handle("POST /v1/leadership/transfer", RoleAdmin, s.handleTransfer)
	handle("GET /v1/spec", RoleRead, s.handleGetSpec)
	handle("PUT /v1/spec", RoleAdmin, s.handlePutSpec)
	handle("GET /v1/pools", RoleRead, s.handlePools)
	handle("GET /v1/pools/{name}", RoleRead, s.handlePool)
	handle("POST /v1/pools/{pool}/failover", RoleOperate, s.handleFailover)
	handle("DELETE /v1/pools/{pool}/failover", RoleOperate, s.handleClear(policy.OverridePin))
	handle("POST /v1/pools/{pool}/failback", RoleOperate, s.handleFailback)
	handle("POST /v1/pools/{pool}/endpoints/{endpoint}/drain", RoleOperate, s.handleDrain)
	handle("DELETE /v1/pools/{pool}/endpoints/{endpoint}/drain", RoleOperate, s.handleClear(policy.OverrideDrain))
	handle("POST /v1/pools/{pool}/endpoints/{endpoint}/force", RoleOperate, s.handleForce)
	handle("DELETE /v1/pools/{pool}/endpoints/{endpoint}/force", RoleOperate, s.handleClear(policy.OverrideForce))
	handle("GET /v1/overrides", RoleRead, s.handleOverrides)
	handle("GET /v1/events", RoleRead, s.handleEvents)
	handle("GET /v1/events/stream", RoleRead, s.handleEventStream)
	handle("POST /v1/views", RoleAdmin, s.handleViews)
	s.addMetricsRoute(mux)
	s.addRoute53Routes(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, pattern := mux.Handler(r)
		need, known := roles[pattern]
		if !known {
			// Unknown paths and wrong methods need a read token too,
			// so that the API's shape is not probed anonymously.
			need = RoleRead
		}
		if r = s.authorize(w, r, need); r == nil {
			return
		}
		if pattern == "" {
			// The mux answers unknown paths (404) and wrong methods
			// (405) in plain text; answer in our JSON shape instead.
			w = &jsonStatusWriter{ResponseWriter: w}
		}
		mux.ServeHTTP(w, r)
	})
}

// jsonStatusWriter turns the mux's plain-text 404 and 405 answers into
// JSON errors.
type jsonStatusWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *jsonStatusWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.replaced = true
		writeError(w.ResponseWriter, &Error{StatusCode: code, Code: CodeNotFound, Message: "no such endpoint"})
	case http.StatusMethodNotAllowed:
		w.replaced = true
		writeError(w.ResponseWriter, &Error{StatusCode: code, Code: CodeMethodNotAllowed,
			Message: "method not allowed; allowed: " + w.Header().Get("Allow")})
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *jsonStatusWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.Status()
	var details []ErrorDetail
	if st.Role == "shutdown" {
		details = append(details, ErrorDetail{Message: "node is shutting down"})
	}
	if st.ClusterID == "" || st.AppliedIndex == 0 {
		details = append(details, ErrorDetail{Message: "replicated state not restored yet"})
	}
	if st.LeaderID == "" {
		details = append(details, ErrorDetail{Message: "no leader known"})
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			details = append(details, ErrorDetail{Message: err.Error()})
		}
	}
	if len(details) > 0 {
		writeError(w, &Error{StatusCode: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "not ready", Details: details})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.Status()
	if st.Version == "" {
		st.Version = s.cfg.Version
	}
	s.addHealthStatus(&st)
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cluster.Members(r.Context())
	if err != nil {
		s.writeErr(w, fmt.Errorf("list members: %w", err))
		return
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	if ms == nil {
		ms = []Member{}
	}
	writeJSON(w, http.StatusOK, ms)
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	var req JoinRequest
	if e := decodeJSON(body, &req, false); e != nil {
		writeError(w, e)
		return
	}
	if e := checkJoin(req); e != nil {
		writeError(w, e)
		return
	}
	s.runWrite(w, r, body, func(ctx context.Context) (int, any, error) {
		if err := s.cluster.Join(ctx, req); err != nil {
			return 0, nil, err
		}
		s.log.Info("member joined", "node_id", req.ID, "raft_addr", req.RaftAddr, "region", req.Region)
		return http.StatusOK, map[string]string{"id": req.ID, "status": "joined"}, nil
	})
}

// checkJoin validates a join request's fields.
func checkJoin(req JoinRequest) *Error {
	var ds []ErrorDetail
	if req.ID == "" {
		ds = append(ds, ErrorDetail{Field: "id", Message: "is required"})
	} else if err := ValidNodeID(req.ID); err != nil {
		ds = append(ds, ErrorDetail{Field: "id", Message: err.Error()})
	}
	if req.RaftAddr == "" {
		ds = append(ds, ErrorDetail{Field: "raft_addr", Message: "is required"})
	} else if host, port, err := net.SplitHostPort(req.RaftAddr); err != nil || host == "" || port == "" || port == "0" {
		ds = append(ds, ErrorDetail{Field: "raft_addr", Message: fmt.Sprintf("%q is not a host:port address", req.RaftAddr)})
	}
	if req.APIAddr != "" {
		if u, err := url.Parse(req.APIAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ds = append(ds, ErrorDetail{Field: "api_addr", Message: fmt.Sprintf("%q is not an http(s) URL", req.APIAddr)})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid join request", Details: ds}
}

// ValidNodeID reports whether id is usable as a node ID: 1 to 64
// characters among letters, digits, '.', '_' and '-'.
func ValidNodeID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("node id must be 1 to 64 characters, got %d", len(id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("node id %q may only hold letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := ValidNodeID(id); err != nil {
		writeError(w, &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid member id",
			Details: []ErrorDetail{{Field: "id", Message: err.Error()}}})
		return
	}
	s.runWrite(w, r, nil, func(ctx context.Context) (int, any, error) {
		if err := s.cluster.Remove(ctx, id); err != nil {
			return 0, nil, err
		}
		s.log.Info("member removed", "node_id", id)
		return http.StatusOK, map[string]string{"id": id, "status": "removed"}, nil
	})
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	var req TransferRequest
	if e := decodeJSON(body, &req, true); e != nil {
		writeError(w, e)
		return
	}
	if req.ID != "" {
		if err := ValidNodeID(req.ID); err != nil {
			writeError(w, &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid transfer request",
				Details: []ErrorDetail{{Field: "id", Message: err.Error()}}})
			return
		}
	}
	s.runWrite(w, r, body, func(ctx context.Context) (int, any, error) {
		if err := s.cluster.TransferLeadership(ctx, req.ID); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"status": "transferred", "id": req.ID}, nil
	})
}

func (s *Server) handleGetSpec(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.State()
	if st == nil || st.Spec == nil {
		writeError(w, &Error{StatusCode: http.StatusNotFound, Code: CodeNoSpec, Message: "no spec has been applied yet"})
		return
	}
	w.Header().Set(HeaderSpecVersion, strconv.FormatUint(st.SpecVersion, 10))
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, SpecDocument{Version: st.SpecVersion, Index: st.SpecIndex, Spec: st.Spec})
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# detour spec version %d (raft index %d)\n", st.SpecVersion, st.SpecIndex)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(st.Spec); err != nil {
		s.writeErr(w, fmt.Errorf("encode spec as YAML: %w", err))
		return
	}
	if err := enc.Close(); err != nil {
		s.writeErr(w, fmt.Errorf("encode spec as YAML: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) handlePutSpec(w http.ResponseWriter, r *http.Request) {
	dryRun, err := parseBool(r.URL.Query().Get("dry_run"))
	if err != nil {
		writeError(w, &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid query",
			Details: []ErrorDetail{{Field: "dry_run", Message: err.Error()}}})
		return
	}
	body, ok := s.readBody(w, r, s.cfg.MaxSpecBytes)
	if !ok {
		return
	}
	spec, err := policy.LoadSpec(body)
	if err != nil {
		writeError(w, specError(err))
		return
	}
	if dryRun {
		st := s.cluster.State()
		writeJSON(w, http.StatusOK, ApplyResult{Version: st.SpecVersion, DryRun: true, Changes: diff(st.Spec, spec)})
		return
	}
	s.runWrite(w, r, body, func(ctx context.Context) (int, any, error) {
		before := s.cluster.State()
		v, err := s.cluster.ApplySpec(ctx, spec)
		if err != nil {
			return 0, nil, err
		}
		changes := diff(before.Spec, spec)
		s.log.Info("spec applied", "version", v, "changes", len(changes))
		return http.StatusOK, ApplyResult{Version: v, Changes: changes}, nil
	})
}

// diff compares the spec in force (nil when none) with a new one.
func diff(old, new *policy.Spec) []policy.Change {
	if old == nil {
		old = &policy.Spec{}
	}
	cs := policy.Diff(old, new)
	if cs == nil {
		cs = []policy.Change{}
	}
	return cs
}

// specError turns a LoadSpec error into the API's error.
func specError(err error) *Error {
	if se, ok := errors.AsType[*policy.SyntaxError](err); ok {
		return &Error{StatusCode: http.StatusBadRequest, Code: CodeSyntax, Message: "spec is not valid YAML",
			Details: []ErrorDetail{{Line: se.Line, Column: se.Column, Message: se.Msg}}}
	}
	if ve, ok := errors.AsType[*policy.ValidationError](err); ok {
		ds := make([]ErrorDetail, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			ds = append(ds, ErrorDetail{Path: p.Path, Message: p.Message})
		}
		return &Error{StatusCode: http.StatusBadRequest, Code: CodeInvalidSpec,
			Message: fmt.Sprintf("spec is invalid: %d problem(s)", len(ds)), Details: ds}
	}
	return &Error{StatusCode: http.StatusBadRequest, Code: CodeInvalidSpec, Message: err.Error()}
}

// wantsJSON reports whether the request's Accept header asks for JSON.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return true
		}
	}
	return false
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (true or false)", s)
	}
	return b, nil
}

// readBody reads the whole request body up to limit bytes; on failure it
// writes the error and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, &Error{StatusCode: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
				Message: fmt.Sprintf("request body is larger than %d bytes", limit)})
			return nil, false
		}
		writeError(w, &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest,
			Message: "read request body: " + err.Error()})
		return nil, false
	}
	return body, true
}

// decodeJSON decodes body into v strictly: unknown fields, wrong types,
// syntax errors and trailing data are errors naming the field or
// position. An empty body is allowed only when emptyOK.
func decodeJSON(body []byte, v any, emptyOK bool) *Error {
	bad := func(ds ...ErrorDetail) *Error {
		return &Error{StatusCode: http.StatusBadRequest, Code: CodeBadRequest, Message: "invalid JSON body", Details: ds}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return bad(ErrorDetail{Message: "request body is empty; expected a JSON object"})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return bad(jsonErrorDetail(body, err))
	}
	known := jsonFields(v)
	var unknown []ErrorDetail
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, ErrorDetail{Field: k, Message: "unknown field"})
		}
	}
	if len(unknown) > 0 {
		sort.Slice(unknown, func(i, j int) bool { return unknown[i].Field < unknown[j].Field })
		return bad(unknown...)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return bad(jsonErrorDetail(body, err))
	}
	return nil
}

// jsonErrorDetail describes a decoding error with its field or position.
func jsonErrorDetail(body []byte, err error) ErrorDetail {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return ErrorDetail{Message: fmt.Sprintf("expected a JSON object, got %s", te.Value)}
		}
		return ErrorDetail{Field: te.Field, Message: fmt.Sprintf("must be %s, got JSON %s", kindName(te.Type), te.Value)}
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := position(body, se.Offset)
		return ErrorDetail{Line: line, Column: col, Message: se.Error()}
	}
	return ErrorDetail{Message: err.Error()}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Uint32, reflect.Int32:
		return "a number"
	}
	return "a " + t.String()
}

// position converts a byte offset into a 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonFields lists the JSON names of the struct v points to.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	m := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	return m
}

// writeJSON writes v as an indented JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		b.Reset()
		_ = json.NewEncoder(&b).Encode(errorBody{&Error{Code: CodeInternal, Message: "encode response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// writeError writes e with its StatusCode (500 when unset).
func writeError(w http.ResponseWriter, e *Error) {
	code := e.StatusCode
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, errorBody{e})
}

// writeErr maps an error from the cluster interfaces to a status and code.
func (s *Server) writeErr(w http.ResponseWriter, err error) {
	writeError(w, s.toError(err))
}

func (s *Server) toError(err error) *Error {
	e := func(status int, code string) *Error {
		return &Error{StatusCode: status, Code: code, Message: err.Error()}
	}
	if oe := overrideError(err); oe != nil {
		return oe
	}
	switch {
	case errors.Is(err, ErrNoQuorum):
		return e(http.StatusServiceUnavailable, CodeNoQuorum)
	case errors.Is(err, ErrNodeIDTaken):
		return e(http.StatusConflict, CodeNodeIDTaken)
	case errors.Is(err, ErrAddrTaken):
		return e(http.StatusConflict, CodeAddrTaken)
	case errors.Is(err, ErrWrongCluster):
		return e(http.StatusConflict, CodeWrongCluster)
	case errors.Is(err, ErrUnknownMember):
		return e(http.StatusNotFound, CodeUnknownMember)
	case errors.Is(err, ErrUnavailable):
		return e(http.StatusServiceUnavailable, CodeUnavailable)
	case errors.Is(err, ErrNotLeader):
		return e(http.StatusServiceUnavailable, CodeNotLeader)
	case errors.Is(err, errDeadline), errors.Is(err, context.DeadlineExceeded):
		return e(http.StatusServiceUnavailable, CodeTimeout)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return e(http.StatusServiceUnavailable, CodeUnavailable)
	}
	s.log.Error("request failed", "error", err)
	return e(http.StatusInternalServerError, CodeInternal)
}
