package route53test

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// apiPrefix is the path prefix of API version 2013-04-01.
const apiPrefix = "/2013-04-01"

// maxBody caps request bodies; a 1,000-record batch is far smaller.
const maxBody = 8 << 20

// opFunc handles one operation. It fills in the call record (zone, change,
// batch) and returns the status and body to send, or an error answer.
// Headers it sets on h are sent with a successful answer.
type opFunc func(r *http.Request, h http.Header, c *Call) (int, any, *Error)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+apiPrefix+"/hostedzone", s.op("CreateHostedZone", s.createHostedZone))
	mux.Handle("GET "+apiPrefix+"/hostedzone/{id}", s.op("GetHostedZone", s.getHostedZone))
	mux.Handle("GET "+apiPrefix+"/hostedzonesbyname", s.op("ListHostedZonesByName", s.listHostedZonesByName))
	// The Go SDK posts to .../rrset, botocore to .../rrset/: accept both.
	mux.Handle("POST "+apiPrefix+"/hostedzone/{id}/rrset", s.op("ChangeResourceRecordSets", s.changeRRSets))
	mux.Handle("POST "+apiPrefix+"/hostedzone/{id}/rrset/", s.op("ChangeResourceRecordSets", s.changeRRSets))
	mux.Handle("GET "+apiPrefix+"/hostedzone/{id}/rrset", s.op("ListResourceRecordSets", s.listRRSets))
	mux.Handle("GET "+apiPrefix+"/change/{id}", s.op("GetChange", s.getChange))
	mux.Handle("/", s.op("Unknown", func(r *http.Request, _ http.Header, _ *Call) (int, any, *Error) {
		return 0, nil, &Error{Status: 404, Code: "UnknownOperationException", Sender: true,
			Message: fmt.Sprintf("The stand-in does not implement %s %s", r.Method, r.URL.Path)}
	}))
	return mux
}

// op wraps an operation with what every request gets: the call log, the
// request ID, latency and the fault switches.
func (s *Server) op(name string, fn opFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := Call{Op: name, Method: r.Method, Path: r.URL.Path}
		call.Attempt, call.MaxAttempts = parseAttempt(r.Header.Get("Amz-Sdk-Request"))
		call.SigningScope = signingScope(r.Header.Get("Authorization"))
		reqID := newRequestID()
		s.mu.Lock()
		latency := s.faults.f.Latency
		s.mu.Unlock()
		if err := wait(r.Context(), latency); err != nil {
			return // the client went away
		}
		s.mu.Lock()
		call.Time = s.now()
		fault := s.injectLocked(call.Time)
		retryAfter := s.faults.f.RetryAfter
		s.mu.Unlock()

		var (
			status int
			body   any
			apiErr = fault
		)
		if fault != nil && name == "ChangeResourceRecordSets" {
			// Log what the rejected attempt carried.
			call.ZoneID = bareID(r.PathValue("id"))
			var req xmlChangeRequest
			if readXML(r, &req) == nil && req.ChangeBatch != nil {
				if b, err := decodeBatch(req.ChangeBatch); err == nil {
					call.Batch = &b
				}
			}
		}
		if apiErr == nil {
			h := make(http.Header)
			status, body, apiErr = fn(r, h, &call)
			if apiErr == nil {
				for k, v := range h {
					w.Header()[k] = v
				}
			}
		}
		if apiErr != nil {
			s.setRetryAfter(w.Header(), apiErr, retryAfter)
			status = apiErr.Status
			call.ErrorCode = apiErr.Code
			call.ErrorMessages = apiErr.Messages
			if len(call.ErrorMessages) == 0 {
				call.ErrorMessages = []string{apiErr.Message}
			}
			body = s.errorBody(apiErr, reqID)
		}
		call.Status = status
		s.mu.Lock()
		s.appendCallLocked(call)
		s.mu.Unlock()
		s.log.Debug("request", "op", name, "zone_id", call.ZoneID, "status", status, "error", call.ErrorCode, "attempt", call.Attempt)
		writeXML(w, status, reqID, body)
	})
}

// errorBody renders an error answer in the form Route 53 uses for it.
func (s *Server) errorBody(e *Error, reqID string) any {
	if e.Code == "InvalidChangeBatch" && s.opts.ChangeBatchErrorForm == FormInvalidChangeBatch {
		return xmlInvalidChangeBatch{Xmlns: xmlns, Messages: e.Messages, RequestID: reqID}
	}
	typ := "Sender"
	if !e.Sender {
		typ = "Receiver"
	}
	return xmlErrorResponse{Xmlns: xmlns, Error: xmlErrorDoc{Type: typ, Code: e.Code, Message: e.Message}, RequestID: reqID}
}

func writeXML(w http.ResponseWriter, status int, reqID string, body any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(body); err != nil {
		// Every body is one of this package's own types.
		panic(fmt.Sprintf("route53test: encode %T: %v", body, err))
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("x-amzn-RequestId", reqID)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// newRequestID returns a random UUID in the form AWS request IDs take.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// parseAttempt reads "attempt=2; max=5".
func parseAttempt(h string) (attempt, maxAttempts int) {
	for part := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch k {
		case "attempt":
			attempt = n
		case "max":
			maxAttempts = n
		}
	}
	return attempt, maxAttempts
}

// signingScope extracts "region/service" from a SigV4 Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/route53/aws4_request, ...").
func signingScope(h string) string {
	_, cred, ok := strings.Cut(h, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2] + "/" + parts[3]
}

// readXML decodes a request body into v.
func readXML(r *http.Request, v any) *Error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalidInput("Could not read the request body: %v", err)
	}
	if len(data) > maxBody {
		return invalidInput("The request body is larger than %d bytes", maxBody)
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return invalidXML("%v", err)
	}
	return nil
}

// pathZoneID reads and checks the {id} of a hosted zone path.
func pathZoneID(r *http.Request) (string, *Error) {
	id := bareID(r.PathValue("id"))
	if len(id) > 32 {
		return "", invalidInput("1 validation error detected: Value '%s' at 'hostedZoneId' failed to satisfy constraint: Member must have length less than or equal to 32", id)
	}
	return id, nil
}

func (s *Server) createHostedZone(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	var req xmlCreateZoneRequest
	if err := readXML(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == nil {
		return 0, nil, invalidXML("cvc-complex-type.2.4.a: Invalid content was found in element 'CreateHostedZoneRequest'. One of '{\"%s\":Name}' is expected.", xmlns)
	}
	if req.CallerReference == nil || *req.CallerReference == "" {
		return 0, nil, invalidXML("cvc-complex-type.2.4.b: The content of element 'CreateHostedZoneRequest' is not complete. One of '{\"%s\":CallerReference}' is expected.", xmlns)
	}
	if req.DelegationSetID != nil {
		return 0, nil, &Error{Status: 404, Code: "NoSuchDelegationSet", Sender: true,
			Message: "The stand-in has no reusable delegation sets: " + *req.DelegationSetID}
	}
	cfg := ZoneConfig{CallerReference: *req.CallerReference}
	if hc := req.HostedZoneConfig; hc != nil {
		if hc.Comment != nil {
			cfg.Comment = *hc.Comment
		}
		if hc.PrivateZone != nil {
			p, err := decodeBool(*hc.PrivateZone)
			if err != nil {
				return 0, nil, err
			}
			cfg.Private = p
		}
	}
	if cfg.Private && req.VPC == nil {
		return 0, nil, &Error{Status: 400, Code: "InvalidVPCId", Sender: true, Message: "A private hosted zone needs a VPC."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ci, err := s.createZoneLocked(*req.Name, cfg, req.VPC, c.Time)
	if err != nil {
		return 0, nil, err
	}
	c.ZoneID, c.ChangeID = z.info.ID, ci.ID
	resp := xmlCreateZoneResponse{Xmlns: xmlns, HostedZone: zoneXML(z.snapshot()), ChangeInfo: changeInfoXML(ci), VPC: z.vpc}
	if !z.info.Private {
		resp.DelegationSet = &xmlDelegationSet{NameServers: z.info.NameServers}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// Location points at the new zone on this server.
	h.Set("Location", fmt.Sprintf("%s://%s%s/hostedzone/%s", scheme, r.Host, apiPrefix, z.info.ID))
	return http.StatusCreated, resp, nil
}

func (s *Server) getHostedZone(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	id, err := pathZoneID(r)
	if err != nil {
		return 0, nil, err
	}
	c.ZoneID = id
	s.mu.Lock()
	defer s.mu.Unlock()
	z, err := s.zoneLocked(id, c.Time)
	if err != nil {
		return 0, nil, err
	}
	resp := xmlGetZoneResponse{Xmlns: xmlns, HostedZone: zoneXML(z.snapshot())}
	if z.info.Private {
		vpcs := []xmlVPC{}
		if z.vpc != nil {
			vpcs = append(vpcs, *z.vpc)
		}
		resp.VPCs = &vpcs
	} else {
		resp.DelegationSet = &xmlDelegationSet{NameServers: z.info.NameServers}
	}
	return http.StatusOK, resp, nil
}

// sortedZonesLocked returns the zones in ListHostedZonesByName order: name
// with labels reversed, then ID.
func (s *Server) sortedZonesLocked() []*zone {
	out := make([]*zone, 0, len(s.zones))
	for _, z := range s.zones {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *zone) int {
		if c := strings.Compare(a.dname.sortKey(), b.dname.sortKey()); c != 0 {
			return c
		}
		return strings.Compare(a.info.ID, b.info.ID)
	})
	return out
}

// parseMaxItems reads a maxitems parameter: def when absent, capped at
// limit. It returns the effective value and the text to echo.
func parseMaxItems(q string, def, limit int) (int, string, *Error) {
	if q == "" {
		return def, strconv.Itoa(def), nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, "", invalidInput("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a positive integer", q)
	}
	return min(n, limit), q, nil
}

// listHostedZonesByName implements Z4: dnsname is where the listing starts,
// not a filter; at most 100 zones per page.
func (s *Server) listHostedZonesByName(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	q := r.URL.Query()
	maxItems, echo, apiErr := parseMaxItems(q.Get("maxitems"), 100, 100)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	dnsName, zoneID := q.Get("dnsname"), bareID(q.Get("hostedzoneid"))
	if zoneID != "" && dnsName == "" {
		return 0, nil, invalidInput("The parameter hostedzoneid can only be used together with the parameter dnsname.")
	}
	resp := xmlListZonesByNameResponse{Xmlns: xmlns, MaxItems: echo, HostedZones: []xmlHostedZone{}}
	var startKey string
	if dnsName != "" {
		dn, err := parseName(dnsName)
		if err != nil {
			return 0, nil, &Error{Status: 400, Code: "InvalidDomainName", Sender: true, Message: fmt.Sprintf("%s is not a valid domain name", dnsName)}
		}
		startKey = dn.sortKey()
		resp.DNSName = ptr(dnsName)
		if zoneID != "" {
			resp.HostedZoneID = ptr(zoneID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zones := s.sortedZonesLocked()
	i := 0
	if dnsName != "" {
		i, _ = slices.BinarySearchFunc(zones, [2]string{startKey, zoneID}, func(z *zone, t [2]string) int {
			if c := strings.Compare(z.dname.sortKey(), t[0]); c != 0 {
				return c
			}
			return strings.Compare(z.info.ID, t[1])
		})
	}
	for ; i < len(zones) && len(resp.HostedZones) < maxItems; i++ {
		resp.HostedZones = append(resp.HostedZones, zoneXML(zones[i].snapshot()))
	}
	if i < len(zones) {
		resp.IsTruncated = true
		resp.NextDNSName = ptr(zones[i].info.Name)
		resp.NextHostedZoneID = ptr(zones[i].info.ID)
	}
	return http.StatusOK, resp, nil
}

func (s *Server) changeRRSets(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	id, apiErr := pathZoneID(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	c.ZoneID = id
	var req xmlChangeRequest
	if err := readXML(r, &req); err != nil {
		return 0, nil, err
	}
	b, apiErr := decodeBatch(req.ChangeBatch)
	if req.ChangeBatch != nil {
		c.Batch = &b
	}
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.waitHold()
	s.mu.Lock()
	defer s.mu.Unlock()
	z, apiErr := s.zoneLocked(id, c.Time)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if apiErr := s.injectPriorLocked(id); apiErr != nil {
		return 0, nil, apiErr
	}
	ci, apiErr := s.applyLocked(z, b, c.Time)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	c.ChangeID = ci.ID
	s.log.Info("change submitted", "zone_id", id, "change_id", ci.ID, "changes", len(b.Changes))
	return http.StatusOK, xmlChangeResponse{Xmlns: xmlns, ChangeInfo: changeInfoXML(ci)}, nil
}

// listRRSets implements L1-L4: listing order, start position by name, type
// and identifier, at most 300 per page.
func (s *Server) listRRSets(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	id, apiErr := pathZoneID(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	c.ZoneID = id
	q := r.URL.Query()
	maxItems, echo, apiErr := parseMaxItems(q.Get("maxitems"), 300, 300)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	name, typ, ident := q.Get("name"), q.Get("type"), q.Get("identifier")
	if typ != "" && name == "" {
		return 0, nil, invalidInput("The input is not valid: type can only be specified together with name.")
	}
	if ident != "" && (name == "" || typ == "") {
		return 0, nil, invalidInput("The input is not valid: identifier can only be specified together with name and type.")
	}
	if typ != "" && !slices.Contains(recordTypes, typ) {
		return 0, nil, invalidInput("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [%s]", typ, strings.Join(recordTypes, ", "))
	}
	var start key
	if name != "" {
		n, err := canonicalName(name)
		if err != nil {
			return 0, nil, invalidInput("Invalid name: %v", err)
		}
		start = key{n, typ, ident}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, apiErr := s.zoneLocked(id, c.Time)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	all := z.sorted()
	i := 0
	if name != "" {
		startKey := mustSortKey(start.name)
		i, _ = slices.BinarySearchFunc(all, start, func(r RecordSet, k key) int {
			if r.Name != k.name {
				return strings.Compare(z.sortKey(r.Name), startKey)
			}
			return cmp.Or(strings.Compare(r.Type, k.typ), strings.Compare(r.SetIdentifier, k.setID))
		})
	}
	resp := xmlListRRSetsResponse{Xmlns: xmlns, MaxItems: echo, ResourceRecordSets: []xmlRRSet{}}
	for ; i < len(all) && len(resp.ResourceRecordSets) < maxItems; i++ {
		resp.ResourceRecordSets = append(resp.ResourceRecordSets, rrsetXML(all[i]))
	}
	if i < len(all) {
		next := all[i]
		resp.IsTruncated = true
		resp.NextRecordName = ptr(next.Name)
		resp.NextRecordType = ptr(next.Type)
		if next.SetIdentifier != "" {
			resp.NextRecordIdentifier = ptr(next.SetIdentifier)
		}
	}
	return http.StatusOK, resp, nil
}

func (s *Server) getChange(r *http.Request, h http.Header, c *Call) (int, any, *Error) {
	id := bareID(r.PathValue("id"))
	c.ChangeID = id
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.changes[id]
	if !ok {
		// Guess: wording.
		return 0, nil, &Error{Status: 404, Code: "NoSuchChange", Sender: true, Message: "A change with the specified change ID does not exist: " + id}
	}
	c.ZoneID = ch.zoneID
	ci := s.changeStatusLocked(ch, c.Time)
	return http.StatusOK, xmlGetChangeResponse{Xmlns: xmlns, ChangeInfo: changeInfoXML(ci)}, nil
}
