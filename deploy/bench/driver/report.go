package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
)

// WriteText prints the report: the dataset, the machine, one line per
// cell (access's own time in the "srv" columns, "-" when not measured),
// one line per concurrency "ratio c64: 0.91", the visibility phase's
// delays and, last, one line per access-review query of the review phase.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "dataset %s: %d users, %d groups, %d folders (depth %d), %d assignments; %d probes\n",
		r.Dataset.Name, r.Dataset.Users, r.Dataset.Groups, r.Dataset.Folders, r.Dataset.Depth, r.Dataset.Assignments, r.Dataset.Probes)
	fmt.Fprintf(w, "%d CPUs, loadavg %s before, %s after; %gs per cell in %d rounds after %gs of warm-up, %d connections, batches of %d\n",
		r.NumCPU, r.LoadAvgBefore, r.LoadAvgAfter, r.Duration, r.Rounds, r.Warmup, r.Connections, r.BatchSize)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conc\tkind\tcalls\tcalls/s\tp50 µs\tp95 µs\tp99 µs\tmax µs\tsrv p50 µs\tsrv p99 µs\terrors\tmismatches\t")
	for _, c := range r.Cells {
		srv50, srv99 := "-", "-"
		if c.ServerCalls > 0 {
			srv50, srv99 = fmt.Sprintf("%.0f", c.ServerP50), fmt.Sprintf("%.0f", c.ServerP99)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%d\t%d\t\n",
			c.Concurrency, c.Kind, c.Calls, c.PerSecond, c.P50, c.P95, c.P99, c.Max, srv50, srv99, c.Errors, c.Mismatches)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ra := range r.Ratios {
		fmt.Fprintf(w, "ratio c%d: %.2f\n", ra.Concurrency, ra.Value)
	}
	if v := r.Visibility; v != nil {
		fmt.Fprintf(w, "visibility: %d membership changes (%d users added to and removed from %s, which grants %s at %s), Check polled every %gµs (%.1f calls per change)\n",
			v.Changes, v.Users, v.Group, v.Permission, v.Scope, v.PollInterval, float64(v.Polls)/float64(max(1, v.Changes)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "delay from\tp50 µs\tp95 µs\tp99 µs\tmax µs\t")
		for _, d := range []struct {
			from string
			p    Percentiles
		}{{"acknowledgement", v.SinceAck}, {"call start", v.SinceCall}} {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t\n", d.from, d.p.P50, d.p.P95, d.p.P99, d.p.Max)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if rv := r.Review; rv != nil {
		fmt.Fprintln(w, rv.Holders.line(rv.PageSize, "holders"))
		if _, err := fmt.Fprintln(w, rv.Scopes.line(rv.PageSize, "scopes")); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the report as indented JSON to dir/load-<start>.json
// and returns the file's path.
func (r *Report) WriteJSON(dir string) (string, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("driver: %w", err)
	}
	path := filepath.Join(dir, "load-"+r.Start.UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("driver: %w", err)
	}
	return path, nil
}

// CaptureProfiles takes, at once, a CPU profile and an allocation profile
// (the allocations of the same window, a delta) of seconds each from the
// pprof debug listener at debugAddr, and writes them to
// dir/<prefix>-cpu.pb.gz and dir/<prefix>-allocs.pb.gz, whose paths it
// returns. Read them with `go tool pprof`.
func CaptureProfiles(ctx context.Context, debugAddr, dir, prefix string, seconds int) ([]string, error) {
	files := map[string]string{
		"profile": filepath.Join(dir, prefix+"-cpu.pb.gz"),
		"allocs":  filepath.Join(dir, prefix+"-allocs.pb.gz"),
	}
	client := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
	g, gctx := errgroup.WithContext(ctx)
	for profile, path := range files {
		g.Go(func() error {
			url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", debugAddr, profile, seconds)
			req, err := http.NewRequestWithContext(gctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("driver: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("driver: GET %s: %s", url, resp.Status)
			}
			f, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("driver: %w", err)
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return fmt.Errorf("driver: GET %s: %w", url, err)
			}
			return f.Close()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return []string{files["profile"], files["allocs"]}, nil
}
