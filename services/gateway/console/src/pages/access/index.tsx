// Manage access: issue 16 point 4.
import type { PageProps } from "../../app";
import { PageHeader } from "../../ui/components";

/** AccessPage is the Manage access section. */
export function AccessPage(_: PageProps) {
  return <PageHeader title="Manage access" />;
}
