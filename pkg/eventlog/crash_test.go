package eventlog_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// crashDBEnv tells TestCrashChild which bbolt file to append to.
const crashDBEnv = "STEWARD_EVENTLOG_CRASH_DB"

// TestCrashKillDuringAppends runs a child process that appends events, one per
// transaction, printing each sequence only after its commit returned, and kills
// it with SIGKILL at a random moment. After every kill the file must pass
// bbolt's consistency check, hold every acknowledged event, and be gap-free
// from 1 to its head. Rounds continue on the same file; STEWARD_CRASH_ROUNDS
// sets their number (default 5; `make soak` runs 50).
func TestCrashKillDuringAppends(t *testing.T) {
	rounds := 5
	if v := os.Getenv("STEWARD_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STEWARD_CRASH_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	var lastAck uint64
	for round := range rounds {
		acks := crashRound(t, path, 5+rand.IntN(60))
		if len(acks) == 0 {
			t.Fatalf("round %d: no acknowledgement", round)
		}
		for _, a := range acks {
			if a <= lastAck {
				t.Fatalf("round %d: acknowledged %d after %d", round, a, lastAck)
			}
			lastAck = a
		}
		head := verifyCrashedFile(t, path, lastAck)
		t.Logf("round %d: %d acknowledged, last %d, head %d", round, len(acks), lastAck, head)
	}
}

// crashRound starts the child, kills it after at least minAcks
// acknowledgements plus a random delay, and returns every acknowledgement it
// printed.
func crashRound(t *testing.T, path string, minAcks int) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []uint64
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		v, ok := strings.CutPrefix(line, "ACK ")
		if !ok {
			continue // the test framework's own output
		}
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		acks = append(acks, seq)
		if !killed && len(acks) >= minAcks {
			killed = true
			// Land anywhere in the next commits, including mid-fsync.
			time.AfterFunc(time.Duration(rand.IntN(3000))*time.Microsecond, func() {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			})
		}
	}
	// Lines already in the pipe were acknowledged before the kill: keep them.
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before being killed (%v) after %d acknowledgements", err, len(acks))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	return acks
}

// verifyCrashedFile reopens the file and checks it; it returns the head.
func verifyCrashedFile(t *testing.T, path string, lastAck uint64) uint64 {
	t.Helper()
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("bbolt check after kill: %v", err)
	}
	l := newLog(t, s, eventlog.Options{})
	head, err := l.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if head < lastAck {
		t.Fatalf("head %d is below the acknowledged %d: acknowledged events lost", head, lastAck)
	}
	// Gap-free 1..head implies every acknowledged sequence is present.
	checkGapFree(t, readAll(t, l, 0), 1, head)
	return head
}

// TestCrashChild is the child process of TestCrashKillDuringAppends; it is
// skipped unless STEWARD_EVENTLOG_CRASH_DB names a file.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("child of TestCrashKillDuringAppends only")
	}
	s, err := bboltstore.Open(path, bboltstore.Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t, s, eventlog.Options{})
	padding := strings.Repeat("x", 512)     // grow the tree across pages
	deadline := time.Now().Add(time.Minute) // never outlive a vanished parent for long
	for time.Now().Before(deadline) {
		var seq uint64
		err := s.Update(context.Background(), func(tx store.Tx) error {
			ev := testEvent(0)
			ev.Resource += "/" + padding[:rand.IntN(len(padding))]
			var err error
			seq, err = l.Append(tx, ev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// Acknowledge only after the commit returned; one write per line.
		if _, err := fmt.Fprintf(os.Stdout, "ACK %d\n", seq); err != nil {
			t.Fatal(err)
		}
	}
}
