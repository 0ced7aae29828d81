// The home page: the organization and the ways in.

import { get } from "../api";
import { currentSession } from "../session";
import { ErrorBanner, Link, PageHeader, formatTime } from "../ui/components";
import { useAsync } from "../ui/hooks";

interface Organization {
  name: string;
  displayName?: string;
  createTime?: string;
}

/** HomePage greets the signed-in person with their organization. */
export function HomePage() {
  const org = currentSession()!.organization;
  const o = useAsync(() => get<Organization>(org), [org]);
  return (
    <>
      <PageHeader title={o.data?.displayName || "Steward"} />
      <ErrorBanner error={o.error} />
      {o.data ? (
        <p class="muted">
          {o.data.name} · created {formatTime(o.data.createTime)}
        </p>
      ) : null}
      <ul class="cards">
        <li>
          <Link href="/members">Members</Link>
          <p>People, departments, groups, robots and API keys.</p>
        </li>
        <li>
          <Link href="/access">Manage access</Link>
          <p>Roles and role assignments at every scope; check a member's permissions.</p>
        </li>
        <li>
          <Link href="/licenses">Licenses</Link>
          <p>Pools, seats, usage and leases.</p>
        </li>
        <li>
          <Link href="/audit">Audit log</Link>
          <p>Who did what, searchable and verifiable.</p>
        </li>
      </ul>
    </>
  );
}
