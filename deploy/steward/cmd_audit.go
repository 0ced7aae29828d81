package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	auditv1 "steward.dev/gen/steward/audit/v1"
)

// audCall runs one authenticated call of an audit command.
func (a *app) audCall(cmd *cobra.Command, run func(auditv1.AuditServiceClient, ctxCall) error) error {
	return withClient(a, cmd, a.audit, auditv1.NewAuditServiceClient, run)
}

func (a *app) auditCommand() *cobra.Command {
	cmd := group("audit", "Search, export and verify the audit log")

	var list auditv1.ListAuditEventsRequest
	search := &cobra.Command{
		Use:   "search [--filter EXPR] [--order-by ORDER]",
		Short: "Search the organization's audit events (newest first)",
		Example: `  steward audit search --filter 'actor = "organizations/acme/users/ada"'
  steward audit search --filter 'action = "user.created" AND time >= "2026-01-01T00:00:00Z"' -o json`,
		Aliases: []string{"list", "ls"},
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			return a.audCall(cmd, func(aud auditv1.AuditServiceClient, ctx ctxCall) error {
				resp, err := aud.ListAuditEvents(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("INDEX", "TIME", "TYPE", "ACTOR", "ACTION", "TARGET", "OUTCOME")
					for _, e := range resp.GetAuditEvents() {
						actor := e.GetActorDisplayName()
						if actor == "" {
							actor = e.GetActor()
						}
						t.add(fmt.Sprint(e.GetIndex()), ts(e.GetTime()), e.GetType(), actor, e.GetAction(), e.GetTarget(), enumWord(e.GetOutcome()))
					}
					return t
				})
			})
		},
	}
	search.Flags().StringVar(&list.Filter, "filter", "", "filter over time, actor, action, target, tenant, outcome and source (AIP-160 subset)")
	search.Flags().StringVar(&list.OrderBy, "order-by", "", `"time desc" (default) or "time asc"`)
	pageFlags(search, &list.PageSize, &list.PageToken)

	var export auditv1.ExportAuditEventsRequest
	var format, file string
	exp := &cobra.Command{
		Use:   "export [--format csv|jsonl] [--filter EXPR] [-f FILE]",
		Short: "Download the audit events as CSV or JSON lines (to standard output, or FILE)",
		Args:  nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			export.Parent = org
			switch format {
			case "csv":
				export.Format = auditv1.ExportAuditEventsRequest_FORMAT_CSV
			case "jsonl":
				export.Format = auditv1.ExportAuditEventsRequest_FORMAT_JSONL
			default:
				return usageErrorf("--format %q: want csv or jsonl", format)
			}
			return a.audCall(cmd, func(aud auditv1.AuditServiceClient, ctx ctxCall) error {
				stream, err := aud.ExportAuditEvents(ctx, &export)
				if err != nil {
					return err
				}
				out, closeOut, err := a.create(file)
				if err != nil {
					return err
				}
				n := 0
				for {
					chunk, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						closeOut()
						return err
					}
					if _, err := out.Write(chunk.GetData()); err != nil {
						closeOut()
						return localError(err)
					}
					n += len(chunk.GetData())
				}
				if err := closeOut(); err != nil {
					return localError(err)
				}
				if file != "" && file != "-" {
					fmt.Fprintf(a.stderr, "Wrote %d bytes to %s.\n", n, file)
				}
				return nil
			})
		},
	}
	exp.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	exp.Flags().StringVar(&export.Filter, "filter", "", "AIP-160 filter, as in audit search")
	exp.Flags().StringVarP(&file, "file", "f", "", "write to FILE instead of standard output")
	_ = exp.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"csv", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Have the audit service verify the organization's log (VerifyAuditLog); exit 4 when it fails",
		Long: `verify asks the audit service to recompute the organization's Merkle log and
check it against its signed checkpoint (VerifyAuditLog). To verify an export
offline, without trusting the server, use 'steward-audit verify'.`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			return a.audCall(cmd, func(aud auditv1.AuditServiceClient, ctx ctxCall) error {
				resp, err := aud.VerifyAuditLog(ctx, &auditv1.VerifyAuditLogRequest{Parent: org})
				if err != nil {
					return err
				}
				if err := a.render(resp, func() *table {
					verdict := "ok"
					if !resp.GetOk() {
						verdict = "FAILED"
					}
					t := newTable("RESULT", "EVENTS CHECKED", "TREE SIZE", "PURGED BEFORE", "FIRST FAILED", "FAILURE")
					first := ""
					if !resp.GetOk() {
						first = fmt.Sprint(resp.GetFirstFailedIndex())
					}
					t.add(verdict, fmt.Sprint(resp.GetEventsChecked()), fmt.Sprint(resp.GetCheckpoint().GetTreeSize()), fmt.Sprint(resp.GetPurgedBefore()), first, resp.GetFailure())
					return t
				}); err != nil {
					return err
				}
				if !resp.GetOk() {
					return &exitError{code: ExitRefused, err: fmt.Errorf("the audit log failed verification: %s", resp.GetFailure())}
				}
				return nil
			})
		},
	}
	cmd.AddCommand(search, exp, verify)
	return cmd
}

// create opens file for writing ("" or "-": standard output) and returns it
// with the function that closes it.
func (a *app) create(file string) (io.Writer, func() error, error) {
	if file == "" || file == "-" {
		return a.stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, localError(err)
	}
	return f, f.Close, nil
}
