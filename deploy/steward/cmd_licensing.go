package main

import (
	"fmt"

	"github.com/spf13/cobra"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// licCall runs one authenticated call of a licensing command.
func (a *app) licCall(cmd *cobra.Command, run func(licensingv1.LicensingServiceClient, ctxCall) error) error {
	return withClient(a, cmd, a.licensing, licensingv1.NewLicensingServiceClient, run)
}

func licenseAssignmentsTable(as ...*licensingv1.LicenseAssignment) *table {
	t := newTable("NAME", "POOL", "MEMBER", "PRODUCT", "CREATED")
	for _, x := range as {
		t.add(last(x.GetName()), last(x.GetPool()), x.GetMember(), enumWord(x.GetProduct()), ts(x.GetCreateTime()))
	}
	return t
}

func (a *app) licensesCommand() *cobra.Command {
	cmd := group("licenses", "License pools, seat assignments and usage", "license")

	var pools licensingv1.ListLicensePoolsRequest
	pl := &cobra.Command{
		Use: "pools", Short: "List the organization's license pools", Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			pools.Parent = org
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.ListLicensePools(ctx, &pools)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("ID", "DISPLAY NAME", "PRODUCT", "EDITION", "MODEL", "QUANTITY", "VALID UNTIL", "TRIAL")
					for _, p := range resp.GetLicensePools() {
						t.add(last(p.GetName()), p.GetDisplayName(), enumWord(p.GetProduct()), p.GetEdition(), enumWord(p.GetModel()),
							fmt.Sprint(p.GetQuantity()), ts(p.GetValidUntil()), yesNo(p.GetTrial()))
					}
					return t
				})
			})
		},
	}
	pageFlags(pl, &pools.PageSize, &pools.PageToken)

	var noConcurrent bool
	as := &cobra.Command{
		Use: "assign POOL MEMBER", Short: "Assign a seat of a named-user pool to a user or robot account", Args: nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			la := &licensingv1.LicenseAssignment{Pool: expand(org, "licensePools", args[0]), Member: a.principal(org, args[1]), ConcurrentExecutionDisabled: noConcurrent}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.AssignLicense(ctx, &licensingv1.AssignLicenseRequest{Parent: org, LicenseAssignment: la})
				if err != nil {
					return err
				}
				return a.render(resp, func() *table { return licenseAssignmentsTable(resp) })
			})
		},
	}
	as.Flags().BoolVar(&noConcurrent, "no-concurrent-execution", false, "disable concurrent execution for this seat")

	var assignments licensingv1.ListLicenseAssignmentsRequest
	al := &cobra.Command{
		Use: "assignments [--pool POOL] [--member MEMBER]", Short: "List seat assignments", Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			assignments.Parent = org
			if assignments.Pool != "" {
				assignments.Pool = expand(org, "licensePools", assignments.Pool)
			}
			if assignments.Member != "" {
				assignments.Member = a.principal(org, assignments.Member)
			}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.ListLicenseAssignments(ctx, &assignments)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table { return licenseAssignmentsTable(resp.GetLicenseAssignments()...) })
			})
		},
	}
	al.Flags().StringVar(&assignments.Pool, "pool", "", "only this pool's seats")
	al.Flags().StringVar(&assignments.Member, "member", "", "only this member's seats")
	pageFlags(al, &assignments.PageSize, &assignments.PageToken)

	un := &cobra.Command{
		Use: "unassign ASSIGNMENT", Short: "Take back a seat (its ID or name, as licenses assignments shows it)", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolve("licenseAssignments", args[0])
			if err != nil {
				return err
			}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.UnassignLicense(ctx, &licensingv1.UnassignLicenseRequest{Name: name})
				return a.done(resp, err, "Unassigned "+name+".")
			})
		},
	}

	var usage licensingv1.GetLicenseUsageRequest
	us := &cobra.Command{
		Use: "usage [--pool POOL] [--service SERVICE]", Short: "Show seats assigned, leased and free, per pool and per service", Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			usage.Name = org + "/licenseUsage"
			if usage.Pool != "" {
				usage.Pool = expand(org, "licensePools", usage.Pool)
			}
			if usage.Service != "" {
				usage.Service = expand(org, "", usage.Service)
			}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.GetLicenseUsage(ctx, &usage)
				if err != nil {
					return err
				}
				return a.render(resp, func() *table {
					t := newTable("POOL", "PRODUCT", "EDITION", "MODEL", "QUANTITY", "ASSIGNED", "LEASED", "FREE", "EXPIRED")
					for _, p := range resp.GetPools() {
						t.add(last(p.GetPool()), enumWord(p.GetProduct()), p.GetEdition(), enumWord(p.GetModel()), fmt.Sprint(p.GetQuantity()),
							fmt.Sprint(p.GetAssigned()), fmt.Sprint(p.GetLeased()), fmt.Sprint(p.GetFree()), yesNo(p.GetExpired()))
					}
					if len(resp.GetServices()) > 0 {
						defer func() {
							fmt.Fprintln(a.stdout)
							s := newTable("SERVICE", "PRODUCT", "LEASED")
							for _, x := range resp.GetServices() {
								s.add(x.GetService(), enumWord(x.GetProduct()), fmt.Sprint(x.GetLeased()))
							}
							_ = s.write(a.stdout)
						}()
					}
					return t
				})
			})
		},
	}
	us.Flags().StringVar(&usage.Pool, "pool", "", "only this pool")
	us.Flags().StringVar(&usage.Service, "service", "", "only this service (tenants/T/services/S)")

	cmd.AddCommand(pl, as, al, un, us)
	return cmd
}

func (a *app) leasesCommand() *cobra.Command {
	cmd := group("leases", "List and release client leases", "lease")
	var list licensingv1.ListLeasesRequest
	ls := &cobra.Command{
		Use: "list [--pool POOL] [--principal PRINCIPAL]", Short: "List live leases", Aliases: []string{"ls"}, Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := a.orgName()
			if err != nil {
				return err
			}
			list.Parent = org
			if list.Pool != "" {
				list.Pool = expand(org, "licensePools", list.Pool)
			}
			if list.Principal != "" {
				list.Principal = a.principal(org, list.Principal)
			}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				resp, err := lic.ListLeases(ctx, &list)
				if err != nil {
					return err
				}
				defer a.morePages(resp.GetNextPageToken())
				return a.render(resp, func() *table {
					t := newTable("ID", "PRINCIPAL", "CLIENT", "MACHINE", "POOL", "SINCE", "EXPIRES")
					for _, l := range resp.GetLeases() {
						t.add(last(l.GetName()), l.GetPrincipal(), enumWord(l.GetClient()), l.GetMachine(), last(l.GetPool()), ts(l.GetCreateTime()), ts(l.GetExpireTime()))
					}
					return t
				})
			})
		},
	}
	ls.Flags().StringVar(&list.Pool, "pool", "", "only this pool's leases")
	ls.Flags().StringVar(&list.Principal, "principal", "", "only this user's or robot account's leases")
	pageFlags(ls, &list.PageSize, &list.PageToken)

	var force bool
	rel := &cobra.Command{
		Use: "release LEASE [--force]", Short: "End a lease: your own, or another's with --force", Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolve("leases", args[0])
			if err != nil {
				return err
			}
			return a.licCall(cmd, func(lic licensingv1.LicensingServiceClient, ctx ctxCall) error {
				if force {
					l, err := lic.ForceReleaseLease(ctx, &licensingv1.ForceReleaseLeaseRequest{Name: name})
					if err != nil {
						return err
					}
					return a.render(l, func() *table { return fields(l) })
				}
				resp, err := lic.ReleaseLease(ctx, &licensingv1.ReleaseLeaseRequest{Name: name})
				return a.done(resp, err, "Released "+name+".")
			})
		},
	}
	rel.Flags().BoolVar(&force, "force", false, "end another principal's lease (ForceReleaseLease; needs licenses.edit)")
	cmd.AddCommand(ls, rel)
	return cmd
}
