package webhook

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// slowBody sends path's headers announcing a 1,000-byte body, then 10 bytes
// of it, then nothing: a client stalled past the server's ReadTimeout. It
// returns the answer the server writes, read within deadline.
func slowBody(t *testing.T, opts ServerOptions, path string, headers string, deadline time.Duration) (*http.Response, []byte) {
	t.Helper()
	g := NewWithT(t)
	base, _, _ := startServer(t, opts, receiver.Handler())
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = conn.Close() })
	_, err = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		headers+"Content-Length: 1000\r\n\r\n"+`{"activity`)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(conn.SetReadDeadline(time.Now().Add(deadline))).To(Succeed())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	g.Expect(err).NotTo(HaveOccurred(), "the server gave no answer to a stalled body")
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return resp, body
}

// shortTimeouts are limits short enough for a test, with the write deadline
// no later than the read deadline, as the defaults had them.
func shortTimeouts() ServerOptions {
	opts := DefaultServerOptions()
	opts.ReadHeaderTimeout = 200 * time.Millisecond
	opts.ReadTimeout = 300 * time.Millisecond
	opts.WriteTimeout = 300 * time.Millisecond
	return opts
}

// A body that stalls past ReadTimeout is bad input like any other: the
// marketplace gets 200 and a JSON 000002 saying the body could not be read,
// not a connection closed without an answer. Before the fix the answer was
// written after WriteTimeout had passed and never reached the client.
func TestAStalledBodyIsAnsweredInJSON(t *testing.T) {
	for name, path := range map[string]struct{ path, headers, msg string }{
		"basic callback": {CallbackPathPrefix + "some-product?signature=s&timestamp=1&nonce=n", "", "did not arrive in full"},
		"kit call": {
			CallbackPathPrefix + "some-product/produceAPI/v2/tenantSync",
			"X-Sign: s\r\nX-Timestamp: 1\r\nX-Nonce: n\r\n", "did not arrive in full",
		},
		// Answered without reading the body, but net/http reads what is
		// left of a small body before it writes, to keep the connection.
		"unknown path": {"/elsewhere", "", "is not a callback URL"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			start := time.Now()
			resp, body := slowBody(t, shortTimeouts(), path.path, path.headers, 5*time.Second)
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
			g.Expect(resp.Header.Get("Content-Type")).To(HavePrefix("application/json"))
			var a answer
			g.Expect(json.Unmarshal(body, &a)).To(Succeed(), "%s", body)
			g.Expect(a.Code).To(Equal("000002"))
			g.Expect(a.Msg).To(ContainSubstring(path.msg))
			g.Expect(a.Msg).NotTo(ContainSubstring("127.0.0.1"), "an answer names no address")
			g.Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second))
		})
	}
}

// The write deadline always ends answerTime or more after the read
// deadline, whatever the options say, and no limit is added where an
// answer had none.
func TestServerKeepsTimeToAnswerAfterTheReadDeadline(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct{ read, write, wantRead, wantWrite time.Duration }{
		{10 * s, 10 * s, 10 * s, 10*s + answerTime},
		{10 * s, 30 * s, 10 * s, 30 * s},
		{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300*time.Millisecond + answerTime},
		{0, 10 * s, 10 * s, 10*s + answerTime},
		{10 * s, 0, 10 * s, 0},
		{0, 0, 0, 0},
	} {
		read, write := ServerOptions{ReadTimeout: tc.read, WriteTimeout: tc.write}.deadlines()
		if read != tc.wantRead || write != tc.wantWrite {
			t.Errorf("read %s, write %s: the server got %s, %s; want %s, %s", tc.read, tc.write, read, write, tc.wantRead, tc.wantWrite)
		}
	}
	read, write := DefaultServerOptions().deadlines()
	NewWithT(t).Expect(write - read).To(BeNumerically(">=", answerTime))
}

// A body's read error is told to the sender without the connection's
// addresses, which a network error carries.
func TestAReadFailureNamesNoAddress(t *testing.T) {
	g := NewWithT(t)
	addr := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8082}
	reset := &net.OpError{Op: "read", Net: "tcp", Source: addr, Addr: addr, Err: errors.New("connection reset by peer")}
	g.Expect(readFailure(reset)).To(Equal("connection reset by peer"))
	g.Expect(readFailure(io.ErrUnexpectedEOF)).To(Equal("unexpected EOF"))
}
