// Package flagenv lets environment variables set flags: a flag named
// "data-dir" takes its value from STEWARD_DATA_DIR unless it was given on
// the command line. Precedence, highest first: command-line flag,
// environment variable, the flag's default.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Prefix is the prefix of the environment variables of Steward's programs.
const Prefix = "STEWARD"

// EnvName returns the environment variable that sets the flag called name:
// prefix, an underscore, and name in upper case with dashes and dots turned
// into underscores. EnvName("STEWARD", "tls-client-ca") is
// "STEWARD_TLS_CLIENT_CA".
func EnvName(prefix, name string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + "_" + strings.ToUpper(r.Replace(name))
}

// Parse parses args into fs and then sets every flag not given in args from
// its environment variable (see EnvName), when that variable is set, even
// to the empty string (so STEWARD_METRICS_ADDR= clears a default). Before
// parsing it appends the variable's name to each flag's usage text, so
// -help lists them.
func Parse(fs *flag.FlagSet, prefix string, args []string) error {
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " (env " + EnvName(prefix, f.Name) + ")"
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Apply(fs, prefix, os.LookupEnv)
}

// Apply sets every flag of fs that was not set by fs.Parse from the
// environment variable named by EnvName, looked up with lookup (os.LookupEnv
// in production). It returns an error naming each variable whose value the
// flag refuses.
func Apply(fs *flag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("flagenv: %s=%q: %w", env, v, err))
		}
	})
	return errors.Join(errs...)
}
