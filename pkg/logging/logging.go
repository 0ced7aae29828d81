// Package logging builds the log/slog logger of a Steward program from its
// -log-level and -log-format flags.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Formats of Config.Format.
const (
	// FormatText is slog's key=value text format, the default.
	FormatText = "text"
	// FormatJSON is one JSON object per line.
	FormatJSON = "json"
)

// Config describes a logger.
type Config struct {
	// Level is the lowest level logged: "debug", "info" (default), "warn"
	// or "error".
	Level string
	// Format is FormatText (default) or FormatJSON.
	Format string
}

// AddFlags registers -log-level and -log-format on fs, defaulting to c's
// values.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	if c.Level == "" {
		c.Level = "info"
	}
	if c.Format == "" {
		c.Format = FormatText
	}
	fs.StringVar(&c.Level, "log-level", c.Level, "lowest level logged: debug, info, warn or error")
	fs.StringVar(&c.Format, "log-format", c.Format, "log format: text or json")
}

// New returns a logger writing to w as c describes.
func (c Config) New(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if c.Level != "" {
		if err := level.UnmarshalText([]byte(c.Level)); err != nil {
			return nil, fmt.Errorf("logging: invalid level %q: %w", c.Level, err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "", FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("logging: invalid format %q (want %q or %q)", c.Format, FormatText, FormatJSON)
	}
}
