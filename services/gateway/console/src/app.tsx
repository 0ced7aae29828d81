// The console's shell: signed out, the sign-in and sign-up pages; signed in,
// the navigation and the page the path names. An expired session shows the
// sign-in dialog over the page, which stays mounted underneath.

import type { ComponentType } from "preact";
import { signOut, useSession } from "./session";
import { navigate, useLocation, type Location } from "./router";
import { Link } from "./ui/components";
import { useAsync } from "./ui/hooks";
import { ReauthDialog, SignInPage, SignUpPage, TotpEnrollPage, whoAmI } from "./pages/auth";
import { SignInCallbackPage } from "./pages/external";
import { HomePage } from "./pages/home";
import { MembersPage } from "./pages/members";
import { AccessPage } from "./pages/access";
import { LicensesPage } from "./pages/licenses";
import { AuditPage } from "./pages/audit";

/** A page gets the location; it reads its sub-path and query from it. */
export type PageProps = { loc: Location };

const areas: Array<{ prefix: string; title: string; page: ComponentType<PageProps> }> = [
  { prefix: "/members", title: "Members", page: MembersPage },
  { prefix: "/access", title: "Manage access", page: AccessPage },
  { prefix: "/licenses", title: "Licenses", page: LicensesPage },
  { prefix: "/audit", title: "Audit log", page: AuditPage },
];

function Header({ principal, email }: { principal: string; email: string }) {
  const me = useAsync(() => whoAmI(principal), [principal]);
  return (
    <header class="topbar">
      <Link href="/" class="brand">
        Steward
      </Link>
      <span class="who" title={principal}>
        {me.data?.displayName || me.data?.nickname || email}
      </span>
      <button
        type="button"
        onClick={() => {
          signOut();
          navigate("/signin", true);
        }}
      >
        Sign out
      </button>
    </header>
  );
}

/** App is the whole console. */
export function App() {
  const { session, expired } = useSession();
  const loc = useLocation();
  if (!session) {
    if (loc.path === "/signup") return <SignUpPage />;
    if (loc.path === "/signin/callback") return <SignInCallbackPage />;
    if (loc.path !== "/signin") navigate("/signin", true);
    return <SignInPage />;
  }
  if (session.totpEnrollmentRequired) return <TotpEnrollPage />;
  if (loc.path === "/signin" || loc.path === "/signup" || loc.path === "/totp") {
    navigate("/", true);
    return null;
  }
  const area = areas.find((a) => loc.path === a.prefix || loc.path.startsWith(a.prefix + "/"));
  const Page = area?.page ?? HomePage;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header principal={session.principal} email={session.email} />
      <div class="layout">
        <nav class="sidenav" aria-label="Sections">
          <Link href="/" aria-current={!area ? "page" : undefined}>
            Home
          </Link>
          {areas.map((a) => (
            <Link href={a.prefix} aria-current={a === area ? "page" : undefined}>
              {a.title}
            </Link>
          ))}
          <a href="/openapi.json" target="_blank" rel="noopener">
            API (OpenAPI)
          </a>
        </nav>
        <main id="main" tabIndex={-1}>
          <Page loc={loc} />
        </main>
      </div>
      {expired ? <ReauthDialog why={expired} /> : null}
    </>
  );
}
