// Audit: issue 16 point 6.
import type { PageProps } from "../../app";
import { PageHeader } from "../../ui/components";

/** AuditPage is the Audit section. */
export function AuditPage(_: PageProps) {
  return <PageHeader title="Audit log" />;
}
