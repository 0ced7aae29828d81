// Members: filled in by the members work (issue 16 point 3).
import type { PageProps } from "../../app";
import { PageHeader } from "../../ui/components";

/** MembersPage is the Members section. */
export function MembersPage(_: PageProps) {
  return <PageHeader title="Members" />;
}
