package main

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds a buffered partial line; longer lines are written in parts.
const maxLine = 64 << 10

// prefixWriter writes each line written to it to out, prefixed. Writes to out
// are serialized by mu, shared by every prefixWriter of one destination, so
// lines of different services never interleave.
type prefixWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix []byte
	buf    []byte // partial line
	// onLine, if not nil, sees every line (without the prefix) before it
	// is written.
	onLine func(line []byte)
}

func newPrefixWriter(mu *sync.Mutex, out io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{mu: mu, out: out, prefix: []byte(prefix)}
}

// Write implements io.Writer; it never fails for out's sake, so that a child
// is never blocked or killed by a broken terminal.
func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) < maxLine {
				return len(p), nil
			}
			i = len(w.buf) - 1
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
}

// Flush writes a final partial line, if any.
func (w *prefixWriter) Flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

// emit writes line, ending it with a newline if it has none.
func (w *prefixWriter) emit(line []byte) {
	if w.onLine != nil {
		w.onLine(line)
	}
	b := append(append([]byte(nil), w.prefix...), line...)
	if b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(b)
}
