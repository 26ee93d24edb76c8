package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine/protocol"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerSyncRoutes(s *Server, r fiber.Router) {
	g := r.Group("/sync", s.requireDevice)
	g.Post("/", s.handleSync)
	g.Get("/events", s.handleSyncEvents)
	g.Post("/wiped", s.handleWiped)
	g.Post("/fetch", s.handleFetch)
}

// requireDevice authenticates "Authorization: Bearer <credential>" and applies
// the per-device rate limit. A revoked device is told to wipe.
func (s *Server) requireDevice(c *fiber.Ctx) error {
	cred, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || cred == "" {
		return Errorf(domain.EUNAUTHORIZED, "device credential required")
	}
	d, p, err := s.Store.Authenticate(c.UserContext(), cred)
	if syncengine.ErrorCode(err) == domain.EREVOKED {
		s.Metrics.Revoked.Inc()
		if c.Path() == "/v1/sync/wiped" {
			// The one thing a revoked device may still do: confirm it wiped.
			c.Locals("device", d)
			c.Locals("person", p)
			return c.Next()
		}
		return &DetailedError{Err: err, Details: fiber.Map{"wipe": true}}
	} else if err != nil {
		return err
	}
	if !s.allow(c.UserContext(), d.ID) {
		return Errorf(domain.ERATELIMITED, "too many requests from this device; slow down")
	}
	c.Locals("device", d)
	c.Locals("person", p)
	return c.Next()
}

// BinaryContentType marks a binary sync body (the shared envelope of
// syncengine/protocol).
const BinaryContentType = protocol.ContentType

// maxPushFrames bounds how many changesets one request may push.
const maxPushFrames = 20000

// parseSync reads either body form into a store request. Every changeset
// is decoded (bounded, snappy-checked) before anything is applied: one bad
// frame rejects the request and nothing is stored.
//
// received[i] is css[i]'s frame when that frame is exactly its canonical
// encoding (nil otherwise), so the store can log the bytes it was sent
// instead of encoding the changeset again.
func parseSync(c *fiber.Ctx) (hdr protocol.Request, css []*syncengine.Changeset, received [][]byte, binary bool, err error) {
	var frames [][]byte
	ct := c.Get(fiber.HeaderContentType)
	switch {
	case strings.HasPrefix(ct, BinaryContentType):
		binary = true
		groups, err := protocol.Decode(c.Body(), &hdr, 1)
		if err != nil {
			return hdr, nil, nil, binary, Errorf(domain.EMALFORMED, "binary sync body is not validly framed")
		}
		if len(hdr.Changesets) > 0 {
			return hdr, nil, nil, binary, Errorf(domain.EMALFORMED, "binary bodies carry changesets as frames, not in the header")
		}
		frames = groups[0]
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		var body syncJSON
		if err := json.Unmarshal(c.Body(), &body); err != nil {
			if errors.As(err, new(base64.CorruptInputError)) {
				return hdr, nil, nil, binary, badBase64(c.Body())
			}
			return hdr, nil, nil, binary, Errorf(domain.EMALFORMED, "request body is not valid JSON")
		}
		hdr, frames = body.Request, body.Changesets
		if len(frames) > maxPushFrames {
			return hdr, nil, nil, binary, Errorf(domain.ETOOLARGE, "too many changesets in one request (max %d)", maxPushFrames)
		}
	default:
		return hdr, nil, nil, binary, Errorf(domain.EMALFORMED, "Content-Type must be application/json or %s", BinaryContentType)
	}
	if err := validate.Struct(hdr); err != nil {
		return hdr, nil, nil, binary, validationError(err)
	}
	if err := domain.ValidateCursor(hdr.Cursor); err != nil {
		return hdr, nil, nil, binary, err
	}
	for i, f := range frames {
		batch, canonical, err := syncengine.DecodeChangesetsCanonical(f)
		if err != nil {
			code := syncengine.ErrorCode(err)
			if code == domain.EINTERNAL {
				code = domain.EMALFORMED
			}
			return hdr, nil, nil, binary, &DetailedError{Err: Errorf(code, "changeset frame %d: %s", i, syncengine.ErrorMessage(err)), Details: fiber.Map{"index": i}}
		}
		css = append(css, batch...)
		switch {
		case !canonical:
			received = append(received, make([][]byte, len(batch))...)
		case binary:
			// A binary body's frames are slices of the request buffer,
			// which the server reuses once the handler returns.
			received = append(received, bytes.Clone(f))
		default:
			received = append(received, f)
		}
	}
	if len(css) > maxPushFrames {
		return hdr, nil, nil, binary, Errorf(domain.ETOOLARGE, "too many changesets in one request (max %d)", maxPushFrames)
	}
	return hdr, css, received, binary, nil
}

// syncJSON is the JSON sync body with its changesets base64-decoded by the
// JSON decoder itself, straight into bytes (the outer field hides the
// request's strings): a week's push is 2.8 MB of base64, and decoding it to
// strings first copied every frame once more.
type syncJSON struct {
	protocol.Request
	Changesets [][]byte `json:"changesets,omitempty"`
}

// badBase64 names the first changeset of body that is not base64.
func badBase64(body []byte) error {
	var hdr protocol.Request
	if err := json.Unmarshal(body, &hdr); err != nil {
		return Errorf(domain.EMALFORMED, "request body is not valid JSON")
	}
	for i, s := range hdr.Changesets {
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return &DetailedError{Err: Errorf(domain.EMALFORMED, "changeset %d is not valid base64", i), Details: fiber.Map{"index": i}}
		}
	}
	return Errorf(domain.EMALFORMED, "request body is not valid JSON")
}

// POST /v1/sync: push changesets, then pull the next page, in one round trip.
func (s *Server) handleSync(c *fiber.Ctx) (err error) {
	start := time.Now()
	s.Metrics.BytesIn.Add(float64(len(c.Body())))
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
		}
		s.Metrics.SyncRequests.WithLabelValues(result).Inc()
		s.Metrics.SyncLatency.Observe(time.Since(start).Seconds())
	}()
	hdr, css, received, binary, err := parseSync(c)
	if err != nil {
		return err
	}
	d := c.Locals("device").(domain.Device)
	p := c.Locals("person").(domain.Person)
	page := hdr.PageBytes
	if page == 0 {
		page = s.Config.PageBytes
	}
	// A sync that started is finished even if the client goes away or the
	// server is shutting down: its effects are one transaction either way.
	ctx := context.WithoutCancel(c.UserContext())
	res, err := s.Store.Sync(ctx, domain.SyncRequest{Device: d, Person: p, Changesets: css, Received: received, Cursor: hdr.Cursor,
		Pending: hdr.Pending, PageBytes: page, NoPull: hdr.NoPull, Purged: hdr.Purged,
		FieldWeeks: hdr.FieldWeeks, DirectoryVersion: hdr.DirectoryVersion, RosterVersion: hdr.RosterVersion})
	if err != nil {
		return err
	}
	s.Metrics.Changesets.WithLabelValues(protocol.StatusAccepted).Add(float64(res.Accepted))
	s.Metrics.Changesets.WithLabelValues(protocol.StatusDuplicate).Add(float64(res.Duplicates))
	s.Metrics.Changesets.WithLabelValues(protocol.StatusQuarantined).Add(float64(res.Quarantined))
	s.Metrics.Sent.WithLabelValues("changeset").Add(float64(len(res.Changesets)))
	s.Metrics.Sent.WithLabelValues("snapshot").Add(float64(len(res.Snapshots)))
	s.Metrics.Conflicts.Add(float64(res.Conflicts))
	if len(res.Touched) > 0 {
		s.Events.Poke(res.Touched...)
	}
	out := protocol.Response{Results: res.Results, Drop: res.Drop, Reset: res.Reset, Cursor: res.Cursor, More: res.More, Erase: res.Erase, Damaged: res.Damaged, Rebase: res.Rebase, Compacted: res.Compacted,
		Partial: res.Partial, FieldSince: res.FieldSince, FieldSeq: res.FieldSeq, Progress: res.Progress, Directory: res.Directory, Roster: res.Roster}
	if hdr.KeptAside {
		if out.KeptAside, err = s.keptAside(ctx, d.ID); err != nil {
			return err
		}
	}
	return s.sendFrames(c, binary, &out, func() {
		out.Changesets = b64(res.Changesets)
		out.Snapshots = b64(res.Snapshots)
	}, res.Changesets, res.Snapshots)
}

// keptAside lists the device's own quarantined saves the server has not
// applied (protocol.Response.KeptAside): open, or discarded by a reviewer.
func (s *Server) keptAside(ctx context.Context, device string) ([]protocol.SaveKey, error) {
	items, err := s.Store.Quarantine(ctx, domain.QuarantineFilter{DeviceID: device, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := []protocol.SaveKey{}
	for _, q := range items {
		if q.Resolution != domain.ResolutionRelease {
			out = append(out, protocol.SaveKey{Replica: q.ReplicaID, Start: q.Start})
		}
	}
	return out, nil
}

// sendFrames answers in the request's form: binary, the header then the
// frame groups; JSON, the header after inBase64 put the frames in it.
func (s *Server) sendFrames(c *fiber.Ctx, binary bool, header any, inBase64 func(), groups ...[][]byte) error {
	var body []byte
	var err error
	if binary {
		if body, err = protocol.Encode(header, groups...); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, BinaryContentType)
	} else {
		inBase64()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		if body, err = c.App().Config().JSONEncoder(header); err != nil {
			return err
		}
	}
	s.Metrics.BytesOut.Add(float64(len(body)))
	return c.Send(body)
}

// POST /v1/sync/fetch: records the device's field-subset first sync left
// out (opened on the phone, a young person's history, or the next page of
// the rest, fetched in the background). Either body form, as /v1/sync; a
// binary answer carries the snapshots as its one frame group.
func (s *Server) handleFetch(c *fiber.Ctx) error {
	var req protocol.FetchRequest
	binary := strings.HasPrefix(c.Get(fiber.HeaderContentType), BinaryContentType)
	switch {
	case binary:
		if _, err := protocol.Decode(c.Body(), &req, 0); err != nil {
			return Errorf(domain.EMALFORMED, "binary fetch body is not validly framed")
		}
	case strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON):
		if err := c.BodyParser(&req); err != nil {
			return Errorf(domain.EMALFORMED, "request body is not valid JSON")
		}
	default:
		return Errorf(domain.EMALFORMED, "Content-Type must be application/json or %s", BinaryContentType)
	}
	if err := validate.Struct(req); err != nil {
		return validationError(err)
	}
	res, err := s.Store.Fetch(context.WithoutCancel(c.UserContext()), domain.FetchRequest{
		Device: c.Locals("device").(domain.Device), Person: c.Locals("person").(domain.Person),
		IDs: req.Records, YoungPerson: req.YoungPerson, Rest: req.Rest, Since: req.Since, Seq: req.Seq, After: req.After, PageBytes: req.PageBytes})
	if err != nil {
		return err
	}
	s.Metrics.Sent.WithLabelValues("snapshot").Add(float64(len(res.Snapshots)))
	out := protocol.FetchResponse{After: res.After, More: res.More, Progress: res.Progress}
	return s.sendFrames(c, binary, &out, func() { out.Snapshots = b64(res.Snapshots) }, res.Snapshots)
}

func b64(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = base64.StdEncoding.EncodeToString(f)
	}
	return out
}

// POST /v1/sync/wiped: a revoked device confirms it erased its local data.
func (s *Server) handleWiped(c *fiber.Ctx) error {
	d := c.Locals("device").(domain.Device)
	if d.Status != domain.DeviceRevoked {
		return Errorf(domain.ECONFLICT, "this device is not revoked")
	}
	if err := s.Store.ConfirmWipe(c.UserContext(), d.ID); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "wiped": true})
}
