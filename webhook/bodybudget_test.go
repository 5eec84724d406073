package webhook

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// The input: each body was capped on its own, but nothing bounded the bytes
// read at once before any signature was checked. About 32 unauthenticated
// allOrgSync calls of 8 MiB held 256 MiB, the chart's memory limit, and got
// the replica OOM-killed. Now every route reads its body within one budget
// of bytes (Options.MaxBodyBytesInFlight), reserved before the first byte
// is read; a request that does not fit is answered 000005 at once, unread.
func TestConcurrentLargeBodiesAreShedBeforeTheyAreRead(t *testing.T) {
	g := NewWithT(t)
	f := newProductFixture(t, saasv1alpha1.ProductTypeSaaS)
	r, err := NewReceiver(receiver.client, receiver.reader, receiver.opts)
	g.Expect(err).NotTo(HaveOccurred())
	large := r.opts.MaxOrgTreeBodyBytes
	held := int(r.opts.MaxBodyBytesInFlight / large)
	g.Expect(held).To(BeNumerically(">", 1), "the default budget holds several department trees")

	// Each slow body declares the largest allowed size, sends its first
	// bytes and stalls, as a sender throttling its upload would.
	var stalled []*stalledUpload
	t.Cleanup(func() {
		for _, s := range stalled {
			s.abort()
		}
	})
	hold := func() {
		s := startStalledUpload(r, kitPath(f, koogallery.KitAllOrgSync), large)
		stalled = append(stalled, s)
		g.Eventually(s.started, time.Minute).Should(BeClosed(), "the receiver reads a body while its budget lasts")
	}
	for range held - 1 {
		hold()
	}
	query := `{"activity":"queryInstance","instanceId":"i-00000000000000000000"}`
	a := serveDirect(t, r, f, query)
	g.Expect(a.Code).To(Equal("000003"), "an ordinary callback is never shed while the budget lasts: %s", a.Msg)
	hold()

	for _, length := range []int64{large, -1} { // declared, and chunked (reserves the route's cap)
		over := startStalledUpload(r, kitPath(f, koogallery.KitAllOrgSync), length)
		stalled = append(stalled, over)
		var shed answer
		g.Eventually(over.answered, 2*time.Second).Should(Receive(&shed), "one more body, Content-Length %d, is answered at once", length)
		g.Expect(shed.Code).To(Equal("000005"), shed.Msg)
		g.Expect(shed.Msg).To(Equal(errBodiesBusy.Error()))
		g.Expect(over.read.Load()).To(BeFalse(), "its body was not read")
	}
	g.Expect(failed(koogallery.ResultInternalError, errBodiesBusy)).To(BeFalse(), "load shedding is logged as an answer, not as a failure")

	for _, s := range stalled[:held] {
		s.abort()
		var cut answer
		g.Eventually(s.answered, time.Minute).Should(Receive(&cut))
		g.Expect(cut.Msg).To(ContainSubstring("body could not be read"))
	}
	orderID := newOrderID()
	a = serveDirect(t, r, f, newInstanceBody(orderID))
	g.Expect(a.Code).To(Equal("000000"), "once the slow bodies are gone, a purchase is answered as ever: %s", a.Msg)
	g.Expect(a.InstanceID).NotTo(BeEmpty())
}

// stalledUpload is a request served by a receiver whose body arrives as slowly
// as its sender likes: its first bytes, then nothing until it is aborted.
type stalledUpload struct {
	writer   *io.PipeWriter
	read     atomic.Bool   // the receiver read from the body
	started  chan struct{} // closed once the receiver has read the first bytes
	answered chan answer
}

// startStalledUpload serves a POST to path whose body declares length bytes
// (-1: none declared, as a chunked body) on r in a goroutine.
func startStalledUpload(r *Receiver, path string, length int64) *stalledUpload {
	reader, writer := io.Pipe()
	s := &stalledUpload{writer: writer, started: make(chan struct{}), answered: make(chan answer, 1)}
	req := httptest.NewRequest(http.MethodPost, path, &watchedReader{Reader: reader, read: &s.read})
	req.ContentLength = length
	go func() {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, req)
		a, err := readAnswer(rec.Result())
		if err != nil {
			a.Msg = err.Error()
		}
		s.answered <- a
	}()
	go func() {
		// Returns once the receiver has read the bytes, or the body is aborted.
		if _, err := writer.Write([]byte(`{"tenantId":"`)); err == nil {
			close(s.started)
		}
	}()
	return s
}

// abort ends the body short, as a connection that breaks off does.
func (s *stalledUpload) abort() { _ = s.writer.CloseWithError(io.ErrUnexpectedEOF) }

// watchedReader records whether anything read from it.
type watchedReader struct {
	io.Reader
	read *atomic.Bool
}

func (w *watchedReader) Read(p []byte) (int, error) {
	w.read.Store(true)
	return w.Reader.Read(p)
}
