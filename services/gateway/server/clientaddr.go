package server

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, 192.0.2.7/32"); a bare address stands for itself alone.
// Empty entries are skipped.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither a CIDR prefix nor an address", entry)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// trusted reports whether a is in one of the prefixes.
func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress returns the address of the client r comes from. It is the
// TCP peer, unless the peer is a trusted proxy: then X-Forwarded-For is read
// from the right (the entry the nearest proxy appended) and the first
// address that is not itself a trusted proxy is the client. A malformed
// entry ends the walk at the last trusted hop. X-Forwarded-For from any
// other peer is ignored: anyone can write it. The second result is false
// when the peer address cannot be parsed.
func clientAddress(r *http.Request, proxies []netip.Prefix) (netip.Addr, bool) {
	client, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !trusted(proxies, client) {
		return client, true
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, ok := parseHost(strings.TrimSpace(hops[j]))
			if !ok {
				return client, true
			}
			client = hop
			if !trusted(proxies, hop) {
				return client, true
			}
		}
	}
	return client, true
}

// parseHost parses an address with or without a port ("192.0.2.1",
// "192.0.2.1:443", "[2001:db8::1]:443", "2001:db8::1"), dropping any IPv6
// zone and unmapping IPv4-mapped IPv6 addresses.
func parseHost(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}
