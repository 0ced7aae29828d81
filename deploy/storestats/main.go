// Command storestats says where the bytes of a Steward store go: it opens a
// service's bbolt file read-only (the service must be stopped, or the open
// waits for its lock) and prints, per key range, the keys, the bytes of
// keys and of values, and the share of the total; then the file's pages:
// how full the leaf and branch pages of the data bucket (and of each range
// the store keeps apart, bboltstore.Options.Unordered) are and how many
// pages are free. It is the measuring tool of issue 13's storage figures (bytes
// on disk per role assignment, per event).
//
//	go run ./deploy/storestats data/access/access.db
//
// A key's range is its first path segment ("ra/"), or its first two when
// the second is a short lower-case tag ("x/p/", "eventlog/e/").
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	bolt "go.etcd.io/bbolt"
)

func main() {
	fs := flag.NewFlagSet("storestats", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: storestats FILE.db") }
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	if err := run(fs.Arg(0), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storestats:", err)
		os.Exit(1)
	}
}

// rangeStats are the totals of one key range.
type rangeStats struct {
	name               string
	keys               int
	keyBytes, valBytes int64
}

// rangeOf returns the key range of key: its first segment and "/", or its
// first two when the second is a tag of at most 9 lower-case letters.
func rangeOf(key []byte) string {
	first := slices.Index(key, '/')
	if first < 0 {
		return string(key)
	}
	rest := key[first+1:]
	second := slices.Index(rest, '/')
	if second < 1 || second > 9 {
		return string(key[:first+1])
	}
	for _, c := range rest[:second] {
		if (c < 'a' || c > 'z') && c != '_' {
			return string(key[:first+1])
		}
	}
	return string(key[:first+1+second+1])
}

// run prints the statistics of the bbolt file at path to w.
func run(path string, w io.Writer) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s (is its service stopped?): %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket([]byte("data"))
		if data == nil {
			return errors.New("no data bucket: not a Steward store")
		}
		// The keys live in the data bucket, or, for the ranges the store
		// keeps apart (bboltstore.Options.Unordered), in their own buckets.
		keyBuckets := []namedBucket{{"data bucket", data}}
		if unordered := tx.Bucket([]byte("unordered")); unordered != nil {
			err := unordered.ForEachBucket(func(name []byte) error {
				keyBuckets = append(keyBuckets, namedBucket{fmt.Sprintf("bucket of %s", name), unordered.Bucket(name)})
				return nil
			})
			if err != nil {
				return err
			}
		}
		ranges := map[string]*rangeStats{}
		var total rangeStats
		count := func(k, v []byte) error {
			name := rangeOf(k)
			r := ranges[name]
			if r == nil {
				r = &rangeStats{name: name}
				ranges[name] = r
			}
			r.keys++
			r.keyBytes += int64(len(k))
			r.valBytes += int64(len(v))
			total.keys++
			total.keyBytes += int64(len(k))
			total.valBytes += int64(len(v))
			return nil
		}
		for _, b := range keyBuckets {
			if err := b.ForEach(count); err != nil {
				return err
			}
		}
		rows := make([]*rangeStats, 0, len(ranges))
		for _, r := range ranges {
			rows = append(rows, r)
		}
		slices.SortFunc(rows, func(a, b *rangeStats) int {
			return cmp.Compare(b.keyBytes+b.valBytes, a.keyBytes+a.valBytes)
		})
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "range\tkeys\tkey bytes\tvalue bytes\tbytes/key\tshare\t")
		for _, r := range rows {
			b := r.keyBytes + r.valBytes
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f%%\t\n", r.name, r.keys, r.keyBytes, r.valBytes, b/int64(r.keys), 100*float64(b)/float64(max(1, total.keyBytes+total.valBytes)))
		}
		fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\t\t\n", total.keys, total.keyBytes, total.valBytes)
		if err := tw.Flush(); err != nil {
			return err
		}
		ps := int64(tx.DB().Info().PageSize)
		used := int64(2) // the meta pages
		err = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			s := b.Stats()
			used += int64(s.BranchPageN + s.LeafPageN + s.LeafOverflowN)
			return nil
		})
		if err != nil {
			return err
		}
		// The store does not sync bbolt's freelist (NoFreelistSync), so a
		// read-only open has none: what the buckets do not reach is free.
		fmt.Fprintf(w, "\nfile %d bytes, %d pages of %d bytes; %d pages reached by the buckets, %d free (%d bytes)\n",
			fi.Size(), fi.Size()/ps, ps, used, fi.Size()/ps-used, (fi.Size()/ps-used)*ps)
		for _, b := range keyBuckets {
			bs := b.Stats()
			fmt.Fprintf(w, "%s: depth %d; leaf pages %d (+%d overflow), %d of %d bytes in use (%.0f%%); branch pages %d, %d of %d bytes in use (%.0f%%)\n",
				b.name, bs.Depth, bs.LeafPageN, bs.LeafOverflowN, bs.LeafInuse, bs.LeafAlloc, 100*float64(bs.LeafInuse)/float64(max(1, bs.LeafAlloc)),
				bs.BranchPageN, bs.BranchInuse, bs.BranchAlloc, 100*float64(bs.BranchInuse)/float64(max(1, bs.BranchAlloc)))
		}
		return nil
	})
}

// namedBucket is a bucket holding keys, and what the output calls it.
type namedBucket struct {
	name string
	*bolt.Bucket
}
