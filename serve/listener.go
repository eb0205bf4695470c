package serve

import (
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener keeps at most max connections open. One more is not left
// waiting in the kernel's backlog, where a client cannot tell a busy
// server from a dead one: it is answered 503 with a JSON error and closed,
// or, where refuse is nil (gRPC's listener), closed at once, which a gRPC
// client sees as Unavailable and retries.
type limitListener struct {
	net.Listener
	slots   chan struct{} // one taken per open connection
	refuse  chan struct{} // one taken per connection being refused
	refused prometheus.Counter
	// tls, where set, answers a refused connection over TLS (HTTP/1.1),
	// as the server behind the listener answers the others.
	tls *tls.Config
}

func newLimitListener(l net.Listener, max int, refused prometheus.Counter) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max), refuse: make(chan struct{}, 64), refused: refused}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		l.refused.Inc()
		if l.refuse == nil {
			c.Close()
			continue
		}
		select {
		case l.refuse <- struct{}{}:
			go func() {
				defer func() { <-l.refuse }()
				if l.tls != nil {
					c = tls.Server(c, l.tls)
				}
				refuseConn(c)
			}()
		default:
			c.Close() // refusing as many as it can already: just close
		}
	}
}

// busyBody is the JSON error a connection over the limit gets.
const busyBody = `{"error":"too many connections are open (--max-conns); retry in a moment"}` + "\n"

// busyResponse is the whole answer, headers and busyBody.
var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(busyBody)) + "\r\n\r\n" + busyBody)

// refuseConn reads what the client has sent of its request (closing a
// connection with unread data would reset it, and the client would see an
// error, not the answer), answers 503 and closes.
func refuseConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	var head []byte
	for len(head) < 64<<10 {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil || containsEnd(head) {
			break
		}
	}
	c.Write(busyResponse)
	if cw, ok := c.(interface{ CloseWrite() error }); ok { // TCP, or TLS's close_notify
		cw.CloseWrite()
	}
}

func containsEnd(b []byte) bool {
	for i := 3; i < len(b); i++ {
		if b[i-3] == '\r' && b[i-2] == '\n' && b[i-1] == '\r' && b[i] == '\n' {
			return true
		}
	}
	return false
}

// limitConn gives its slot back when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
