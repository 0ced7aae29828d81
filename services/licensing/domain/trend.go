package domain

import (
	"context"
	"encoding/binary"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// The usage trend (R26) follows series: the live leases of one pool, or of
// one service's clients of one product. Each change of a series' level
// closes the time since the previous change into hour buckets, each holding
// the hour's peak level and its seat-time (level x nanoseconds), so that
// the average over an hour is its seat-time over its length. The level now
// and since when is a record of its own, so the hour in progress (and the
// hours since the last change) are read without writing anything.

// maxTrendPoints bounds the intervals GetUsageTrend answers per series.
const maxTrendPoints = 24 * 31

// poolSeries is the trend series of pool.
func poolSeries(pool string) string { return "pool:" + pool }

// serviceSeries is the trend series of service's clients of product.
func serviceSeries(service string, product licensingv1.Product) string {
	return "service:" + service + "|" + strconv.Itoa(int(product))
}

// levelRecord is a series' level and when it took it.
type levelRecord struct {
	level int64
	since time.Time
}

// hourRecord is one hour of a series: its peak level and its seat-time.
type hourRecord struct {
	peak     int64
	seatTime uint64 // level x nanoseconds
}

func (l levelRecord) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(l.level))
	return binary.BigEndian.AppendUint64(b, uint64(l.since.UnixNano()))
}

func decodeLevel(b []byte) (levelRecord, error) {
	if len(b) != 16 {
		return levelRecord{}, errors.New("domain: corrupt trend level")
	}
	return levelRecord{level: int64(binary.BigEndian.Uint64(b)), since: time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))).UTC()}, nil
}

func (h hourRecord) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(h.peak))
	return binary.BigEndian.AppendUint64(b, h.seatTime)
}

func decodeHour(b []byte) (hourRecord, error) {
	if len(b) != 16 {
		return hourRecord{}, errors.New("domain: corrupt trend hour")
	}
	return hourRecord{peak: int64(binary.BigEndian.Uint64(b)), seatTime: binary.BigEndian.Uint64(b[8:])}, nil
}

// hourKey is the trendHour key of series' hour starting at h.
func hourKey(org, series string, h time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte(trendHour+org+"|"+series+"|"), uint64(h.UnixNano()))
}

// level sets series' level to n at t.Now: the time since its previous
// change goes into its hours, and the current hour's peak takes n.
func (t *txn) level(org, series string, n int32) error {
	key := []byte(trendLevel + org + "|" + series)
	prev := levelRecord{since: t.Now}
	switch b, err := t.Get(key); {
	case err == nil:
		if prev, err = decodeLevel(b); err != nil {
			return err
		}
	case errors.Is(err, store.ErrNotFound):
		if err := t.Put([]byte(trendSeries+org+"|"+series), nil); err != nil {
			return err
		}
	default:
		return err
	}
	if prev.level > 0 {
		for h := prev.since.Truncate(time.Hour); h.Before(t.Now); h = h.Add(time.Hour) {
			from, to := later(prev.since, h), earlier(t.Now, h.Add(time.Hour))
			if err := t.addHour(org, series, h, prev.level, uint64(prev.level)*uint64(to.Sub(from))); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		if err := t.addHour(org, series, t.Now.Truncate(time.Hour), int64(n), 0); err != nil {
			return err
		}
		return t.Put(key, levelRecord{level: int64(n), since: t.Now}.encode())
	}
	return t.Delete(key)
}

// addHour raises the peak of series' hour h to peak and adds seatTime.
func (t *txn) addHour(org, series string, h time.Time, peak int64, seatTime uint64) error {
	key := hourKey(org, series, h)
	var rec hourRecord
	switch b, err := t.Get(key); {
	case err == nil:
		if rec, err = decodeHour(b); err != nil {
			return err
		}
	case errors.Is(err, store.ErrNotFound):
		if err := t.Put(timeKey(trendAge, h, string(key)), nil); err != nil {
			return err
		}
	default:
		return err
	}
	rec.peak = max(rec.peak, peak)
	rec.seatTime += seatTime
	return t.Put(key, rec.encode())
}

// GetUsageTrend returns the peak and average live leases per hour or per
// day (UTC) over [start_time, end_time), per pool and per service's client
// product, optionally of one pool or service (R26). The range is at most 31
// days of hours or 744 days of days.
func (s *Service) GetUsageTrend(ctx context.Context, actor Actor, req *licensingv1.GetUsageTrendRequest) (*licensingv1.UsageTrend, error) {
	org := resourcename.OrganizationOf(req.GetName())
	if err := actor.Visible(org); err != nil {
		return nil, err
	}
	for field, n := range map[string]string{"pool": req.GetPool(), "service": req.GetService()} {
		if n != "" && resourcename.OrganizationOf(n) != org {
			return nil, fieldError(field, "must belong to %s", org)
		}
	}
	now := s.clock()
	step := time.Hour
	if req.GetGranularity() == licensingv1.GetUsageTrendRequest_GRANULARITY_DAY {
		step = 24 * time.Hour
	}
	start := req.GetStartTime().AsTime().Truncate(step)
	end := now
	if req.GetEndTime() != nil {
		end = earlier(req.GetEndTime().AsTime(), now)
	}
	if !end.After(req.GetStartTime().AsTime()) && req.GetEndTime() != nil {
		return nil, fieldError("end_time", "must be after start_time")
	}
	if end.Sub(start) > maxTrendPoints*step {
		return nil, fieldError("end_time", "the range holds more than %d %s; narrow it or ask for days", maxTrendPoints, strings.TrimPrefix(strings.ToLower(req.GetGranularity().String()), "granularity_")+"s")
	}
	out := &licensingv1.UsageTrend{Name: req.GetName()}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var series []string
		err := tx.Scan([]byte(trendSeries+org+"|"), nil, func(k, _ []byte) (bool, error) {
			sr := string(k[len(trendSeries+org+"|"):])
			pool, service := seriesFilter(sr)
			if (req.GetPool() == "" && req.GetService() == "") || (pool != "" && pool == req.GetPool()) || (service != "" && service == req.GetService()) {
				series = append(series, sr)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, sr := range series {
			points, err := trendPoints(tx, org, sr, start, end, step, now)
			if err != nil {
				return err
			}
			out.Points = append(out.Points, points...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out.Points, func(i, j int) bool {
		return out.Points[i].GetStartTime().AsTime().Before(out.Points[j].GetStartTime().AsTime())
	})
	return out, nil
}

// seriesFilter returns the pool or the service a series is of.
func seriesFilter(series string) (pool, service string) {
	if p, ok := strings.CutPrefix(series, "pool:"); ok {
		return p, ""
	}
	svc, _, _ := strings.Cut(strings.TrimPrefix(series, "service:"), "|")
	return "", svc
}

// trendPoints returns series' points over [start, end) in steps, each the
// peak and the average over the part of the interval before now. A series
// with no lease in the range has no points.
func trendPoints(tx store.ReadTx, org, series string, start, end time.Time, step time.Duration, now time.Time) ([]*licensingv1.UsagePoint, error) {
	type interval struct {
		peak     int64
		seatTime float64
	}
	n := int((end.Sub(start) + step - 1) / step)
	acc := make([]interval, n)
	prefix := trendHour + org + "|" + series + "|"
	err := tx.Scan([]byte(prefix), hourKey(org, series, start), func(k, v []byte) (bool, error) {
		h, _ := keyTime(prefix, k)
		if !h.Before(end) {
			return false, nil
		}
		rec, err := decodeHour(v)
		if err != nil {
			return false, err
		}
		i := int(h.Sub(start) / step)
		acc[i].peak = max(acc[i].peak, rec.peak)
		acc[i].seatTime += float64(rec.seatTime)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// The level now has held since its change: its time is in no hour yet.
	switch b, err := tx.Get([]byte(trendLevel + org + "|" + series)); {
	case err == nil:
		lr, err := decodeLevel(b)
		if err != nil {
			return nil, err
		}
		from, to := later(lr.since, start), earlier(now, end)
		for i := 0; i < n; i++ {
			lo, hi := later(from, start.Add(time.Duration(i)*step)), earlier(to, start.Add(time.Duration(i+1)*step))
			if hi.After(lo) {
				acc[i].peak = max(acc[i].peak, lr.level)
				acc[i].seatTime += float64(lr.level) * float64(hi.Sub(lo))
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	used := false
	for _, a := range acc {
		used = used || a.peak > 0
	}
	if !used {
		return nil, nil
	}
	pool, service := seriesFilter(series)
	var product licensingv1.Product
	if pool != "" {
		p := &licensingv1.LicensePool{}
		if err := get(tx, poolPrefix+pool, pool, p); err != nil {
			return nil, err
		}
		product = p.GetProduct()
	} else {
		_, num, _ := strings.Cut(series, "|")
		v, _ := strconv.Atoi(num)
		product = licensingv1.Product(v)
	}
	points := make([]*licensingv1.UsagePoint, 0, n)
	for i, a := range acc {
		lo := start.Add(time.Duration(i) * step)
		length := earlier(lo.Add(step), now).Sub(lo)
		p := &licensingv1.UsagePoint{StartTime: timestamppb.New(lo), Pool: pool, Service: service, Product: product, Peak: int32(a.peak)}
		if length > 0 {
			p.Average = a.seatTime / float64(length)
		}
		points = append(points, p)
	}
	return points, nil
}

// dropOldHours deletes at most limit trend hours that started before
// cutoff and returns how many.
func (t *txn) dropOldHours(cutoff time.Time, limit int) (int, error) {
	keys, err := t.dueKeys(trendAge, cutoff, limit)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := t.Delete([]byte(k)); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
