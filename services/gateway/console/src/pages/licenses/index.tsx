// Licenses: issue 16 point 5.
import type { PageProps } from "../../app";
import { PageHeader } from "../../ui/components";

/** LicensesPage is the Licenses section. */
export function LicensesPage(_: PageProps) {
  return <PageHeader title="Licenses" />;
}
